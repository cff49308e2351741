"""``sweep scenario``: one scenario run over a grid of overrides and many seeds.

Each run goes through the ordinary runner on the simulator. Its trace lives
only as long as the run (the end-of-run checks read it); a ``RunMetrics``
subscriber folds the events into a handful of numbers as they are written,
and only those numbers leave the worker.

Metrics of one run (docs/sweep.md):

- ``first_leader_ms``: when the first leader was elected.
- ``leader_changes``: leaders elected after the first one.
- ``unavailable_s``: time after the first election with no server in role
  leader (a deposed leader that does not know it yet still counts as one).
- ``election_ms``: mean length of those leaderless gaps in the run; every gap
  is also kept (``elections_ms``) and summarised pooled across runs.
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

from etcdplay.scenario import Scenario, from_dict
from etcdplay.sweep.stats import summarize
from etcdplay.trace import Event, TraceWriter

METRICS = (
    "leader_changes",
    "unavailable_s",
    "election_ms",
    "first_leader_ms",
    "writes_acked",
    "writes_failed",
    "check_failures",
)


class RunMetrics:
    """A trace subscriber that measures one run as its events are written."""

    def __init__(self) -> None:
        self.leaders: set[str] = set()
        self.first_leader: float | None = None
        self.leader_changes = 0
        self.gap_started: float | None = None
        self.gaps: list[float] = []
        self.writes_acked = 0
        self.writes_failed = 0
        self.failed_checks: list[str] = []
        self.last_t = 0.0

    def __call__(self, event: Event) -> None:
        t = float(event["t"])
        self.last_t = max(self.last_t, t)
        kind = event["kind"]
        if kind == "role":
            self._role(t, str(event.get("node")), event.get("role"))
        elif kind == "client":
            if event.get("op") == "put":
                if event.get("ok"):
                    self.writes_acked += 1
                else:
                    self.writes_failed += 1
        elif kind == "check":
            if not event.get("ok") and not event.get("skipped"):
                self.failed_checks.append(str(event.get("name")))

    def _role(self, t: float, node: str, role: Any) -> None:
        had_leader = bool(self.leaders)
        if role == "leader":
            self.leaders.add(node)
            if self.first_leader is None:
                self.first_leader = t
            else:
                self.leader_changes += 1
        else:
            self.leaders.discard(node)
        if self.first_leader is None:
            return
        if had_leader and not self.leaders:
            self.gap_started = t
        elif not had_leader and self.leaders and self.gap_started is not None:
            self.gaps.append(t - self.gap_started)
            self.gap_started = None

    def sample(self) -> dict[str, Any]:
        gaps = list(self.gaps)
        if self.gap_started is not None:  # still leaderless at the end
            gaps.append(self.last_t - self.gap_started)
        return {
            "leader_changes": self.leader_changes,
            "unavailable_s": round(sum(gaps), 6),
            "election_ms": round(1000 * sum(gaps) / len(gaps), 3) if gaps else None,
            "first_leader_ms": round(1000 * self.first_leader, 3) if self.first_leader is not None else None,
            "writes_acked": self.writes_acked,
            "writes_failed": self.writes_failed,
            "check_failures": len(self.failed_checks),
            "failed_checks": self.failed_checks,
            "elections_ms": [round(1000 * g, 3) for g in gaps],
        }


@functools.lru_cache(maxsize=32)
def _scenario(payload: str) -> Scenario:
    return from_dict(json.loads(payload), "sweep grid point")


def payload(scenario: Scenario) -> str:
    """A grid point as it travels to workers: the validated scenario as JSON."""
    return json.dumps(scenario.to_dict(), sort_keys=True)


def scenario_trial(point: str, seed: int) -> dict[str, Any]:
    """Run one grid point with one seed on the simulator (runs in a worker)."""
    from etcdplay.runner import make_header, run_scenario
    from etcdplay.sim.backend import SimBackend

    scenario = _scenario(point).expanded(seed)
    trace = TraceWriter(make_header(scenario, seed, "sim"))
    metrics = RunMetrics()
    trace.subscribe(metrics)
    result = run_scenario(scenario, SimBackend(), seed, trace)
    sample = metrics.sample()
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

    def add(self, sample: dict[str, Any]) -> None:
        self.runs += 1
        for key in METRICS:
            value = sample.get(key)
            if value is not None:
                self.values[key].append(float(value))
        self.elections.extend(sample.get("elections_ms") or [])
        if sample.get("check_failures"):
            self.runs_failed += 1
            self.failed_checks.update(sample.get("failed_checks") or [])

    def summary(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "runs_failed": self.runs_failed,
            "failed_checks": dict(sorted(self.failed_checks.items())),
            "metrics": {key: summarize(values) for key, values in self.values.items()},
            "elections_ms": summarize(self.elections),
        }
