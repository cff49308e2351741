"""Lean runs: a scenario on the simulator when only pass/fail matters.

Sweeping 100,000 chaos seeds for safety needs only each run's verdict, not
its trace: like the failover harness (``sim/failover.py``), a lean run skips
what only a reader of the trace would use. It runs the ordinary runner and
checks (the same ``Runner``, the same checks as ``etcdplay simulate``) on a
``SimBackend(lean=True)`` on the bare heap engine, which

- emits no periodic ``status`` events and no ``vote`` / ``leader`` /
  ``commit`` events (``role`` events stay: one-leader-per-term reads them),
- keeps in memory only the events the checks read, and writes no JSON.

None of these observe anything that changes the run, and the heap engine
runs the same calls in the same order as SimPy's, so a lean run passes or
fails exactly when ``etcdplay simulate`` with the same seed does
(tests/test_sim_lean.py compares them).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from etcdplay.checks import CheckResult
from etcdplay.runner import make_header, run_scenario
from etcdplay.scenario import Scenario
from etcdplay.sim.backend import SimBackend
from etcdplay.trace import TraceWriter

#: The event kinds the runner's checks read back from the trace.
CHECKED_KINDS = frozenset({"role", "client", "check", "end"})

#: The cyclic collector's first threshold during a lean run (Python's
#: default: 700 allocations). A run allocates millions of short-lived
#: objects (messages, outputs, heap entries) that reference counting frees
#: anyway; at 700 the collector's passes over them were ~8 % of perf's
#: samples of chaos runs. The few cycles a run leaves are collected later.
GC_THRESHOLD = 20_000


def checked_events_writer(header: dict[str, Any]) -> TraceWriter:
    """A trace writer that keeps only the events the checks read."""
    return TraceWriter(header, keep_kinds=CHECKED_KINDS)


@dataclass(frozen=True, slots=True)
class Verdict:
    seed: int
    ok: bool
    failed: tuple[CheckResult, ...]

    @property
    def failed_names(self) -> list[str]:
        return [c.name for c in self.failed]


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector less often inside the block (it
    cannot change a run: nothing in the simulator has a finalizer)."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], GC_THRESHOLD), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def check_run(scenario: Scenario, seed: int) -> Verdict:
    """Run ``scenario`` (a ``[chaos]`` schedule is expanded from ``seed``) and
    return only its verdict."""
    with fewer_collections():
        expanded = scenario.expanded(seed)
        writer = checked_events_writer(make_header(expanded, seed, "sim"))
        result = run_scenario(expanded, SimBackend(engine="heap", lean=True), seed, writer)
    return Verdict(seed, result.ok, tuple(result.failed))
