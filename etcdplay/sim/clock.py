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

import itertools
from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any, Protocol

import simpy
from simpy.events import NORMAL


class Scheduler(Protocol):
    def now(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[..., None], *args: Any) -> None:
        """Call ``callback(*args)`` after ``delay`` seconds of virtual time."""

    def call_at(self, when: float, callback: Callable[..., None], *args: Any) -> None:
        """Call ``callback(*args)`` at exactly ``when`` (not ``now + (when -
        now)``, which float rounding can move by an ulp and so reorder two
        calls meant for the same instant)."""


class SimpyScheduler:
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


class HeapScheduler:
    """The smallest event loop: a heap of (time, sequence, callback, args).

    The sequence number breaks ties in scheduling order, so runs are
    deterministic and a message never overtakes one sent earlier for the
    same instant.
    """

    def __init__(self) -> None:
        self._now = 0.0
        self._heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self._halted = False
        self.events = 0

    def now(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[..., None], *args: Any) -> None:
        heappush(self._heap, (self._now + delay, next(self._seq), callback, args))

    def call_at(self, when: float, callback: Callable[..., None], *args: Any) -> None:
        heappush(self._heap, (when, next(self._seq), callback, args))

    def halt(self) -> None:
        """Make the current ``run`` return after the call in progress."""
        self._halted = True

    def run(self, until: float, stop: Callable[[], bool] | None = None) -> None:
        """Process calls up to time ``until``, or until ``stop()`` turns true
        (checked after each call), or until a call invokes ``halt()``."""
        heap = self._heap
        pop = heappop
        count = 0
        self._halted = False
        interrupted = False
        while heap and heap[0][0] <= until:
            self._now, _, fn, args = pop(heap)
            fn(*args)
            count += 1
            if self._halted or (stop is not None and stop()):
                interrupted = True
                break
        if not interrupted and until != float("inf"):
            self._now = max(self._now, until)
        self.events += count
