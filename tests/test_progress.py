"""The live progress line (issue 14, item 8), folded from a real (simulated) trace."""

from __future__ import annotations

import io

from rich.console import Console

from etcdplay import scenario as scenarios
from etcdplay.progress import ProgressState, live_progress
from etcdplay.runner import make_header, run_scenario
from etcdplay.sim.backend import SimBackend
from etcdplay.trace import TraceWriter


def test_progress_follows_the_trace() -> None:
    sc = scenarios.load("leader-failure")
    writer = TraceWriter(make_header(sc, 7, "sim"))
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=200)
    with live_progress(writer, console, len(sc.steps), sc.duration + sc.settle) as state:
        result = run_scenario(sc, SimBackend(), 7, writer)
    clients = [e for e in result.trace.events if e["kind"] == "client"]
    assert state.ok == sum(1 for e in clients if e["ok"])
    assert state.failed == sum(1 for e in clients if not e["ok"]) > 0
    assert state.step_index == len(sc.steps) - 1
    line = state.line().plain
    assert f"step {len(sc.steps)}/{len(sc.steps)}" in line and "leader n" in line
    assert f"{state.ok} writes ok" in buffer.getvalue()


def test_progress_state_tracks_the_leader() -> None:
    state = ProgressState(3, 10.0)
    state({"t": 1.0, "kind": "role", "node": "n2", "role": "leader", "term": 4})
    assert "leader n2 (term 4)" in state.line().plain
    state({"t": 2.0, "kind": "role", "node": "n2", "role": "down", "term": 4})
    assert "leader none" in state.line().plain
    state({"t": 2.5, "kind": "step", "index": 1, "action": "crash", "nodes": ["n2"]})
    assert "step 2/3: crash n2" in state.line().plain
