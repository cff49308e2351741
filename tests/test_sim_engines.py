"""SimPy's event loop and the bare heap order events identically: same trace bytes."""

from __future__ import annotations

import io

import pytest

from etcdplay import scenario as sc
from etcdplay.runner import make_header, run_scenario
from etcdplay.sim.backend import SimBackend
from etcdplay.trace import TraceWriter


def trace_bytes(name: str, seed: int, engine: str) -> str:
    scenario = sc.load(name).expanded(seed)
    sink = io.StringIO()
    run_scenario(
        scenario, SimBackend(engine=engine), seed, TraceWriter(make_header(scenario, seed, "sim"), sink)
    )
    return sink.getvalue()


@pytest.mark.parametrize(("name", "seed"), [("leader-failure", 7), ("chaos", 11), ("flaky-network", 2)])
def test_simpy_and_heap_engines_give_identical_traces(name: str, seed: int) -> None:
    assert trace_bytes(name, seed, "simpy") == trace_bytes(name, seed, "heap")


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown engine"):
        SimBackend(engine="turbo")


def test_simpy_processes_share_the_clock_in_scheduling_order() -> None:
    """Calls on the side heap and SimPy events interleave by (time, order
    of scheduling), as if all were on SimPy's queue."""
    from etcdplay.sim.clock import SimpyScheduler

    sched = SimpyScheduler()
    env = sched.env
    seen: list[tuple[str, float]] = []

    def process():  # type: ignore[no-untyped-def]
        yield env.timeout(0.5)
        seen.append(("process", env.now))
        sched.call_later(0.25, lambda: seen.append(("call from process", sched.now())))
        yield env.timeout(0.5)
        seen.append(("process again", env.now))

    sched.call_at(0.5, lambda: seen.append(("call before", sched.now())))
    env.process(process())  # its first timeout is scheduled after the call above
    sched.call_at(1.0, lambda: seen.append(("call after", sched.now())))
    sched.run(until=2.0)
    assert seen == [
        ("call before", 0.5),
        ("process", 0.5),
        ("call from process", 0.75),
        ("call after", 1.0),
        ("process again", 1.0),
    ]
    assert sched.now() == 2.0
