"""Schedulers: "call this function at that virtual time", two ways.

Network, timers and nodes only ever need ``now()`` and ``call_later``; they do
not care who owns time. ``SimpyScheduler`` runs them on a SimPy
environment's clock, beside any SimPy processes (the default engine);
``HeapScheduler`` is the same loop with no SimPy at all (``--engine heap``,
and the failover trials). Both run calls in the same order.

Neither starts a SimPy process, or even a SimPy event, per call: a process
costs a generator, a ``Process`` event and an ``Initialize`` event (measured
~6x slower than one event with a callback), and an event with a callback
costs as much again as the simulator's own work per call.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

import simpy
from simpy.events import NORMAL


class Scheduler:
    """What the network, timers, nodes and clients use. A base class, not a
    Protocol: compiled, a call through a class is a direct (vtable) call,
    where a call through a Protocol looks the method up by name and parses
    its arguments, on every message and timer."""

    def now(self) -> float:
        raise NotImplementedError

    def call_later(self, delay: float, callback: Callable[..., None], *args: Any) -> None:
        """Call ``callback(*args)`` after ``delay`` seconds of virtual time."""
        raise NotImplementedError

    def call_at(self, when: float, callback: Callable[..., None], *args: Any) -> None:
        """Call ``callback(*args)`` at exactly ``when`` (not ``now + (when -
        now)``, which float rounding can move by an ulp and so reorder two
        calls meant for the same instant)."""
        raise NotImplementedError


class SimpyScheduler(Scheduler):
    """The simulation on a ``simpy.Environment``'s clock.

    The environment owns virtual time (``env.now``) and runs any SimPy
    processes and events put on it, e.g. a workload written as a SimPy
    process. The simulator's own calls (one per message, disk write and
    timer: thousands per simulated second) do not become SimPy events: they
    wait on a side heap that ``run`` merges with SimPy's queue in one order,
    by (time, priority, SimPy event id), drawing their ids from SimPy's own
    counter. So a call and a SimPy event due at the same instant run in the
    order they were scheduled, exactly as if both were on SimPy's queue.

    Why a side heap: an ``Event`` per call (object, callbacks list, bound
    method, 4-tuple on SimPy's queue, ``env.step``'s callback loop) cost
    about as much as the simulator's own work per call. Calls run in the same
    order as on ``HeapScheduler``, so both give byte-identical traces
    (``tests/test_sim_engines.py``).

    Time advances only through ``run``: ``env.run()`` alone would not see
    the side heap.
    """

    def __init__(self, env: simpy.Environment | None = None) -> None:
        self.env = env if env is not None else simpy.Environment(initial_time=0.0)
        # (time, priority, event id, callback, args): comparable with SimPy's
        # (time, priority, event id, event) on the first three fields
        self._calls: list[tuple[float, int, int, Callable[..., None], tuple[Any, ...]]] = []
        self._halted = False
        self.events = 0

    def halt(self) -> None:
        """Make the current ``run`` return after the call in progress."""
        self._halted = True

    def run(self, until: float, stop: Callable[[], bool] | None = None) -> None:
        """Process calls and SimPy events up to time ``until`` (see
        ``HeapScheduler.run``)."""
        env = self.env
        queue = env._queue
        calls = self._calls
        step = env.step
        pop = heappop
        count = 0
        self._halted = False
        interrupted = False
        while True:
            # SimPy's queue is empty unless someone put their own events on
            # it, so the tuple comparison (event ids are unique: it never
            # reaches the callbacks) is rarely paid.
            if calls and (not queue or calls[0][:3] < queue[0][:3]):
                if calls[0][0] > until:
                    break
                when, _, _, fn, args = pop(calls)
                env._now = when
                fn(*args)
            elif queue and queue[0][0] <= until:
                step()
            else:
                break
            count += 1
            if self._halted or (stop is not None and stop()):
                interrupted = True
                break
        if not interrupted and until != float("inf") and env._now < until:
            env._now = until
        self.events += count

    def now(self) -> float:
        return float(self.env._now)

    def call_later(self, delay: float, callback: Callable[..., None], *args: Any) -> None:
        env = self.env
        heappush(self._calls, (env._now + delay, NORMAL, next(env._eid), callback, args))

    def call_at(self, when: float, callback: Callable[..., None], *args: Any) -> None:
        heappush(self._calls, (when, NORMAL, next(self.env._eid), callback, args))


class _Call:
    """One scheduled call on ``HeapScheduler``'s heap: a native object whose
    ordering is two C comparisons, where a (time, sequence, ...) tuple on
    ``heapq`` costs generic rich comparisons (an equality test, then an
    order test, per field)."""

    __slots__ = ("args", "fn", "seq", "when")

    def __init__(self, when: float, seq: int, fn: Callable[..., None], args: tuple[Any, ...]) -> None:
        self.when = when
        self.seq = seq
        self.fn = fn
        self.args = args


def _before(a: _Call, b: _Call) -> bool:
    return a.when < b.when or (a.when == b.when and a.seq < b.seq)


def _push(heap: list[_Call], call: _Call) -> None:
    """heapq.heappush ordered by (when, seq)."""
    heap.append(call)
    pos = len(heap) - 1
    while pos > 0:
        parent_pos = (pos - 1) >> 1
        parent = heap[parent_pos]
        if not _before(call, parent):
            break
        heap[pos] = parent
        pos = parent_pos
    heap[pos] = call


def _pop(heap: list[_Call]) -> _Call:
    """heapq.heappop ordered by (when, seq). (when, seq) pairs are unique, so
    any correct heap pops them in the same order."""
    last = heap.pop()
    if not heap:
        return last
    top = heap[0]
    n = len(heap)
    pos = 0
    child = 1
    while child < n:
        right = child + 1
        if right < n and _before(heap[right], heap[child]):
            child = right
        if not _before(heap[child], last):
            break
        heap[pos] = heap[child]
        pos = child
        child = 2 * pos + 1
    heap[pos] = last
    return top


class HeapScheduler(Scheduler):
    """The smallest event loop: a heap of calls ordered by (time, sequence).

    The sequence number breaks ties in scheduling order, so runs are
    deterministic and a message never overtakes one sent earlier for the
    same instant.
    """

    def __init__(self) -> None:
        self._now = 0.0
        self._heap: list[_Call] = []
        self._seq = 0
        self._halted = False
        self.events = 0

    def now(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[..., None], *args: Any) -> None:
        seq = self._seq
        self._seq = seq + 1
        _push(self._heap, _Call(self._now + delay, seq, callback, args))

    def call_at(self, when: float, callback: Callable[..., None], *args: Any) -> None:
        seq = self._seq
        self._seq = seq + 1
        _push(self._heap, _Call(when, seq, callback, args))

    def halt(self) -> None:
        """Make the current ``run`` return after the call in progress."""
        self._halted = True

    def run(self, until: float, stop: Callable[[], bool] | None = None) -> None:
        """Process calls up to time ``until``, or until ``stop()`` turns true
        (checked after each call), or until a call invokes ``halt()``."""
        heap = self._heap
        count = 0
        self._halted = False
        interrupted = False
        while heap and heap[0].when <= until:
            call = _pop(heap)
            self._now = call.when
            call.fn(*call.args)
            count += 1
            if self._halted or (stop is not None and stop()):
                interrupted = True
                break
        if not interrupted and until != float("inf"):
            self._now = max(self._now, until)
        self.events += count
