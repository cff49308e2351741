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
