"""The runner on the simulator: every built-in scenario, determinism, selectors,
and random fault schedules that must never break safety and must converge."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etcdplay import metrics
from etcdplay import scenario as sc
from etcdplay.runner import RunResult, make_header, run_scenario
from etcdplay.sim.backend import SimBackend
from etcdplay.trace import TraceWriter

SAFETY = {
    "election-safety",
    "leader-append-only",
    "log-matching",
    "leader-completeness",
    "state-machine-safety",
}


def simulate(scenario: sc.Scenario, seed: int) -> tuple[RunResult, str]:
    scenario = scenario.expanded(seed)
    sink = io.StringIO()
    writer = TraceWriter(make_header(scenario, seed, "sim"), sink)
    result = run_scenario(scenario, SimBackend(), seed, writer)
    return result, sink.getvalue()


@pytest.mark.parametrize("name", sc.builtin_names())
def test_every_builtin_passes_its_checks(name: str) -> None:
    result, _ = simulate(sc.load(name), seed=7)
    names = {c.name for c in result.checks}
    assert names >= SAFETY
    assert {"one-leader-per-term", "convergence", "no-acked-write-lost"} <= names
    assert result.ok, [f"{c.name}: {c.detail}" for c in result.failed]


def test_leader_failure_elects_a_new_leader_in_a_newer_term() -> None:
    result, _ = simulate(sc.load("leader-failure"), seed=7)
    elections = metrics.elections(result.trace)
    assert elections[0].cause == "start"
    crash = next(e for e in elections if e.cause.startswith("crash"))
    crashed = crash.cause.split()[1]
    first_term = elections[0].new_term
    assert crash.outcome == "elected" and crash.old_leader == crashed
    assert crash.new_leader != crashed and crash.new_term is not None and first_term is not None
    assert crash.new_term > first_term
    # etcd timers: at least one election timeout (1 s) minus a heartbeat, at most a few
    assert crash.election_time is not None and 0.9 <= crash.election_time <= 4.0
    assert crash.downtime is not None and crash.downtime >= crash.election_time
    roles = [e for e in result.trace.of_kind("role") if e["node"] == crashed]
    assert roles[-1]["role"] == "follower" and roles[-1]["term"] >= crash.new_term


def test_same_seed_same_bytes_different_seed_different_run() -> None:
    scenario = sc.load("chaos")
    _, a = simulate(scenario, 3)
    _, b = simulate(scenario, 3)
    _, c = simulate(scenario, 4)
    assert a == b
    assert a != c


def test_cli_trace_is_byte_identical_across_processes(tmp_path: Path) -> None:
    outs = []
    for i in range(2):
        out = tmp_path / f"run{i}.jsonl"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "etcdplay",
                "simulate",
                "leader-failure",
                "--seed",
                "7",
                "--out",
                str(out),
                "--quiet",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_selectors_resolve_and_are_recorded() -> None:
    text = """
[cluster]
size = 5
[[steps]]
at = 0
action = "wait-for-leader"
[[steps]]
at = 1
action = "crash"
target = "followers:2"
[[steps]]
at = 2
action = "restart"
[[steps]]
at = 3
action = "partition"
groups = [["leader"], ["minority:1"]]
[[steps]]
at = 4
action = "heal"
"""
    result, _ = simulate(sc.from_toml(text, "t.toml"), seed=1)
    faults = list(result.trace.of_kind("fault"))
    crash = faults[0]
    assert crash["action"] == "crash" and crash["selector"] == "followers:2" and len(crash["nodes"]) == 2
    assert faults[1]["action"] == "restart" and faults[1]["nodes"] == crash["nodes"]
    partition = faults[2]
    assert [len(g) for g in partition["groups"]] == [1, 1, 3]
    assert result.ok


fault = st.sampled_from(["crash", "stop", "isolate", "partition", "delay"])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.sampled_from([3, 5]),
    faults=st.lists(
        st.tuples(fault, st.sampled_from(["leader", "follower", "random"]), st.floats(0.2, 2.0)),
        min_size=1,
        max_size=5,
    ),
    seed=st.integers(0, 10_000),
    pre_vote=st.booleans(),
)
def test_random_fault_schedules_stay_safe_and_converge(
    size: int, faults: list[tuple[str, str, float]], seed: int, pre_vote: bool
) -> None:
    steps: list[dict] = [
        {"at": 0.0, "action": "wait-for-leader"},
        {"at": 0.1, "action": "load", "rate": 50, "duration": 2.0 * len(faults) + 1},
    ]
    t = 0.5
    for kind, target, hold in faults:
        if kind in ("crash", "stop", "isolate"):
            steps.append({"at": t, "action": kind, "target": target})
        elif kind == "partition":
            steps.append({"at": t, "action": "partition", "groups": [[target]]})
        else:
            steps.append({"at": t, "action": "delay", "target": target, "latency_ms": "uniform(20,300)"})
        t += hold
        steps.append({"at": t, "action": "restart" if kind in ("crash", "stop") else "heal"})
        t += 0.3
    scenario = sc.from_dict(
        {
            "name": "random",
            "settle": 10.0,
            "cluster": {
                "size": size,
                "timer": "uniform",
                "election_timeout_ms": [150, 300],
                "heartbeat_ms": 50,
                "pre_vote": pre_vote,
            },
            "network": {"latency_ms": "uniform(1,5)", "loss": 0.01},
            "steps": steps,
        }
    )
    result, _ = simulate(scenario, seed)
    assert result.ok, [f"{c.name}: {c.detail}" for c in result.failed]


def test_a_selector_with_nothing_to_name_skips_its_step() -> None:
    text = """
[cluster]
size = 3
[[steps]]
at = 0
action = "wait-for-leader"
[[steps]]
at = 1
action = "crash"
target = "all"
[[steps]]
at = 1.1
action = "partition"
groups = [["leader"]]
[[steps]]
at = 3.5
action = "restart"
"""
    result, _ = simulate(sc.from_toml(text, "t.toml"), seed=1)
    notes = [e["text"] for e in result.trace.of_kind("note") if "text" in e]
    assert any("step 2 (partition) skipped: no leader" in n for n in notes)
    assert not [e for e in result.trace.of_kind("fault") if e["action"] == "partition"]
    assert result.ok, [f"{c.name}: {c.detail}" for c in result.failed]
