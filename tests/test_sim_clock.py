"""The bare heap scheduler runs calls in (time, scheduling order), as heapq
on (time, sequence) tuples would, and honours ``until``, ``stop`` and ``halt``."""

from __future__ import annotations

import heapq

from hypothesis import given
from hypothesis import strategies as st

from etcdplay.sim.clock import HeapScheduler

# each action: schedule a call at a time from a small set (ties are common),
# or run the loop up to a time
actions = st.lists(
    st.one_of(
        st.tuples(st.just("at"), st.integers(0, 12)),
        st.tuples(st.just("later"), st.integers(0, 12)),
        st.tuples(st.just("run"), st.integers(0, 12)),
    ),
    max_size=120,
)


@given(actions)
def test_calls_run_in_time_then_scheduling_order(script: list[tuple[str, int]]) -> None:
    sched = HeapScheduler()
    ran: list[int] = []
    expected: list[int] = []
    reference: list[tuple[float, int]] = []
    now = 0.0
    seq = 0
    for kind, value in script:
        if kind == "run":
            until = max(now, float(value))
            sched.run(until=until)
            while reference and reference[0][0] <= until:
                expected.append(heapq.heappop(reference)[1])
            now = until
        else:
            when = float(value) if kind == "at" else now + float(value)
            if kind == "at" and when < now:
                continue  # calls are never scheduled in the past
            if kind == "at":
                sched.call_at(when, ran.append, seq)
            else:
                sched.call_later(float(value), ran.append, seq)
            heapq.heappush(reference, (when, seq))
            seq += 1
        assert ran == expected
    sched.run(until=float("inf"))
    expected.extend(heapq.heappop(reference)[1] for _ in range(len(reference)))
    assert ran == expected
    assert sched.events == seq


def test_stop_and_halt_end_a_run_after_the_call_in_progress() -> None:
    sched = HeapScheduler()
    ran: list[str] = []
    for name, at in (("a", 1.0), ("b", 2.0), ("c", 3.0), ("d", 4.0)):
        sched.call_at(at, ran.append, name)
    sched.run(until=10.0, stop=lambda: ran[-1] == "b")
    assert ran == ["a", "b"] and sched.now() == 2.0
    sched.call_at(3.0, sched.halt)  # scheduled after "c" for the same instant
    sched.run(until=10.0)
    assert ran == ["a", "b", "c"] and sched.now() == 3.0
    sched.run(until=10.0)
    assert ran == ["a", "b", "c", "d"] and sched.now() == 10.0
