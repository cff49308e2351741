"""``sweep scenario``: one scenario run over a grid of overrides and many seeds.

Each run goes through the ordinary runner on the simulator. Its trace lives
only as long as the run, in the worker; ``run_metrics`` reduces it to a
handful of numbers with ``etcdplay.metrics`` (so a sweep counts elections as
``etcdplay simulate`` and the reports do), and only those numbers leave the
worker.

Metrics of one run (docs/sweep.md):

- ``first_leader_ms``: when the first leader was elected.
- ``leader_changes``: leader tenures after the first one.
- ``unavailable_s``: time after the first election with no running server in
  role leader (a deposed leader that does not know it yet still counts).
- ``election_ms``: mean time from a disruptive fault to the next leader, over
  the run's faults that caused an election; every such election is also kept
  (``elections_ms``) and summarised pooled across runs.
- ``writes_acked`` / ``writes_failed``: client puts acknowledged / failed.
- ``check_failures``: checks that did not hold (safety, convergence, no
  acknowledged write lost, expectations).
"""

from __future__ import annotations

import functools
import json
from array import array
from collections import Counter
from typing import Any

from etcdplay import metrics
from etcdplay.scenario import Scenario, from_dict
from etcdplay.sweep.stats import summarize
from etcdplay.trace import Trace, TraceWriter

METRICS = (
    "leader_changes",
    "unavailable_s",
    "election_ms",
    "first_leader_ms",
    "writes_acked",
    "writes_failed",
    "check_failures",
)


def run_metrics(trace: Trace) -> dict[str, Any]:
    """The metrics of one run, counted by ``etcdplay.metrics`` like every other view."""
    elections = metrics.elections(trace)
    first = next((e for e in elections if e.cause == "start"), None)
    # election time (fault -> new leader), metrics.py's name for it
    after_faults = [
        e.election_time
        for e in elections
        if e.cause != "start" and e.outcome == "elected" and e.election_time is not None
    ]
    first_t = first.elected_at if first is not None else None
    gaps = [
        (start, end)
        for start, end in metrics.unavailability_windows(trace)
        if first_t is not None and start >= first_t
    ]
    failed_checks = [
        str(e.get("name")) for e in metrics.checks(trace) if not e.get("ok") and not e.get("skipped")
    ]
    puts = [e for e in trace.of_kind("client") if e.get("op") == "put"]
    return {
        "leader_changes": max(0, len(metrics.leader_tenures(trace)) - 1),
        "unavailable_s": round(sum(end - start for start, end in gaps), 6),
        "election_ms": round(1000 * sum(after_faults) / len(after_faults), 3) if after_faults else None,
        "first_leader_ms": round(1000 * first_t, 3) if first_t is not None else None,
        "writes_acked": sum(1 for e in puts if e.get("ok")),
        "writes_failed": sum(1 for e in puts if not e.get("ok")),
        "check_failures": len(failed_checks),
        "failed_checks": failed_checks,
        "elections_ms": [round(1000 * d, 3) for d in after_faults],
    }


@functools.lru_cache(maxsize=32)
def _scenario(payload: str) -> Scenario:
    return from_dict(json.loads(payload), "sweep grid point")


def payload(scenario: Scenario) -> str:
    """A grid point as it travels to workers: the validated scenario as JSON."""
    return json.dumps(scenario.to_dict(), sort_keys=True)


def check_trial(point: str, seed: int) -> dict[str, Any]:
    """Run one grid point with one seed on the lean path (``sweep scenario
    --checks-only``): only the verdict and the names of failed checks."""
    from etcdplay.sim.lean import check_run

    verdict = check_run(_scenario(point), seed)
    names = verdict.failed_names
    return {"ok": verdict.ok, "check_failures": len(names), "failed_checks": names}


def scenario_trial(point: str, seed: int) -> dict[str, Any]:
    """Run one grid point with one seed on the simulator (runs in a worker)."""
    from etcdplay.runner import make_header, run_scenario
    from etcdplay.sim.backend import SimBackend

    scenario = _scenario(point).expanded(seed)
    writer = TraceWriter(make_header(scenario, seed, "sim"))
    result = run_scenario(scenario, SimBackend(), seed, writer)
    sample = run_metrics(result.trace)
    sample["ok"] = bool(result.ok)
    return sample


class ScenarioAggregate:
    """Per-metric values across seeds of one grid point (a float per run)."""

    def __init__(self) -> None:
        self.values: dict[str, array[float]] = {key: array("d") for key in METRICS}
        self.elections = array("d")
        self.runs = 0
        self.runs_failed = 0
        self.failed_checks: Counter[str] = Counter()
        self.failed_seeds: list[int] = []  # every failing run's seed, to rerun it

    def add(self, sample: dict[str, Any]) -> None:
        self.runs += 1
        for key in METRICS:
            value = sample.get(key)
            if value is not None:
                self.values[key].append(float(value))
        self.elections.extend(sample.get("elections_ms") or [])
        if sample.get("check_failures") or sample.get("ok") is False:
            self.runs_failed += 1
            self.failed_checks.update(sample.get("failed_checks") or [])
            if isinstance(sample.get("seed"), int):
                self.failed_seeds.append(sample["seed"])

    def summary(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "runs_failed": self.runs_failed,
            "failed_checks": dict(sorted(self.failed_checks.items())),
            "failed_seeds": list(self.failed_seeds),
            "metrics": {key: summarize(values) for key, values in self.values.items()},
            "elections_ms": summarize(self.elections),
        }
