"""Schedulers: "call this function at that virtual time", two ways.

Network, timers and nodes only ever need ``now()`` and ``call_later``; they do
not care who owns time. ``SimpyScheduler`` puts each call on a SimPy event
(the backend, which also runs in real time for the web view);
``HeapScheduler`` is a bare heap with no SimPy at all, for the failover sweep
and anyone who wants the same run about twice as fast (``--engine heap``).

Neither starts a SimPy process per call: a process costs a generator, a
``Process`` event and an ``Initialize`` event, measured ~6x slower than one
event with a callback.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any, Protocol

import simpy
from simpy.events import NORMAL, Event


class Scheduler(Protocol):
    def now(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[..., None], *args: Any) -> None:
        """Call ``callback(*args)`` after ``delay`` seconds of virtual time."""

    def call_at(self, when: float, callback: Callable[..., None], *args: Any) -> None:
        """Call ``callback(*args)`` at exactly ``when`` (not ``now + (when -
        now)``, which float rounding can move by an ulp and so reorder two
        calls meant for the same instant)."""


class _Call(Event):
    """A SimPy event that just calls a function when its time comes."""

    __slots__ = ("_args", "_fn")

    def __init__(self, env: simpy.Environment, fn: Callable[..., None], args: Any) -> None:
        # Event.__init__ inlined, as simpy.Timeout does, to keep this cheap.
        self.env = env
        self.callbacks = [self._fire]
        self._value = None
        self._ok = True
        self._fn = fn
        self._args = args

    def _fire(self, _event: Event) -> None:
        self._fn(*self._args)


class SimpyScheduler:
    """The simulation on SimPy's event queue.

    Orders calls exactly as ``HeapScheduler`` does (by time, then by the order
    they were scheduled: SimPy's event id), so both give byte-identical traces;
    ``tests/test_sim_engines.py`` holds them to that.
    """

    def __init__(self, env: simpy.Environment | None = None) -> None:
        self.env = env if env is not None else simpy.Environment()
        self._halted = False
        self.events = 0

    def halt(self) -> None:
        """Make the current ``run`` return after the call in progress."""
        self._halted = True

    def run(self, until: float, stop: Callable[[], bool] | None = None) -> None:
        """Process events up to time ``until`` (see ``HeapScheduler.run``)."""
        env = self.env
        queue = env._queue
        step = env.step
        pop = heapq.heappop
        count = 0
        self._halted = False
        while queue and queue[0][0] <= until:
            call = queue[0][3]
            if type(call) is _Call:
                # env.step() for our own events, inlined: nearly every event
                # is one, and step's generic callback loop and failure check
                # cost as much again as the call itself. Other SimPy events
                # (processes, timeouts of anyone sharing the environment) go
                # through step() as usual.
                env._now = pop(queue)[0]
                call.callbacks = None  # type: ignore[assignment]  # processed, as step() marks it
                call._fn(*call._args)
            else:
                step()
            count += 1
            if self._halted or (stop is not None and stop()):
                break
        else:
            if until != float("inf") and env._now < until:
                # SimPy would get here by scheduling a stop event at ``until``;
                # setting the clock directly keeps event ids (and so the order
                # of later events) identical to the heap scheduler's.
                env._now = until
        self.events += count

    def now(self) -> float:
        # env.now, without the property and the float() it needs only
        # before the first event of an Environment(initial_time=0)
        return self.env._now + 0.0

    def call_later(self, delay: float, callback: Callable[..., None], *args: Any) -> None:
        # env.schedule(event, NORMAL, delay), inlined: the same queue entry
        env = self.env
        heapq.heappush(env._queue, (env._now + delay, NORMAL, next(env._eid), _Call(env, callback, args)))

    def call_at(self, when: float, callback: Callable[..., None], *args: Any) -> None:
        # env.schedule only takes a delay; push the exact time onto SimPy's
        # queue the way schedule() itself does.
        env = self.env
        heapq.heappush(env._queue, (when, NORMAL, next(env._eid), _Call(env, callback, args)))


#: Calls at least this far (seconds) in the future wait in a second heap.
FAR = 1.0


class HeapScheduler:
    """The smallest event loop: a heap of (time, sequence, callback, args).

    The sequence number breaks ties in scheduling order, so runs are
    deterministic and a message never overtakes one sent earlier for the
    same instant.

    Calls ``FAR`` seconds or more ahead (request timeouts: one per client
    request, nearly all of them moot) go into a second heap, so the first
    one, which every message and disk write passes through, stays small.
    The loop always runs the smaller (time, sequence) of the two heads: the
    order is exactly that of one heap.
    """

    def __init__(self) -> None:
        self._now = 0.0
        self._heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._far: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self._halted = False
        self.events = 0

    def now(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[..., None], *args: Any) -> None:
        heapq.heappush(
            self._far if delay >= FAR else self._heap,
            (self._now + delay, next(self._seq), callback, args),
        )

    def call_at(self, when: float, callback: Callable[..., None], *args: Any) -> None:
        heapq.heappush(
            self._far if when - self._now >= FAR else self._heap,
            (when, next(self._seq), callback, args),
        )

    def halt(self) -> None:
        """Make the current ``run`` return after the call in progress."""
        self._halted = True

    def run(self, until: float, stop: Callable[[], bool] | None = None) -> None:
        """Process calls up to time ``until``, or until ``stop()`` turns true
        (checked after each call), or until a call invokes ``halt()``."""
        heap = self._heap
        far = self._far
        pop = heapq.heappop
        count = 0
        self._halted = False
        interrupted = False
        while True:
            if far and (not heap or far[0] < heap[0]):
                if far[0][0] > until:
                    break
                self._now, _, fn, args = pop(far)
            elif heap and heap[0][0] <= until:
                self._now, _, fn, args = pop(heap)
            else:
                break
            fn(*args)
            count += 1
            if self._halted or (stop is not None and stop()):
                interrupted = True
                break
        if not interrupted and until != float("inf"):
            self._now = max(self._now, until)
        self.events += count
