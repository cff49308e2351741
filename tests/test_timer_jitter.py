"""Timer jitter (uniform timer): a real timer wakes late by a small random
amount; with fixed timeouts that is what eventually breaks a perfect split
vote (the Raft paper's 150-150 ms line). Off by default, with no effect on any
trace; when on, deterministic in the seed."""

from __future__ import annotations

import io
import random

import pytest
from pydantic import ValidationError

from etcdplay import scenario as sc
from etcdplay.runner import make_header, run_scenario
from etcdplay.sim.backend import SimBackend
from etcdplay.sim.clock import HeapScheduler
from etcdplay.sim.failover import FailoverParams, _Trial, run_failover_trial
from etcdplay.sim.raft import AppendRequest
from etcdplay.sim.timers import ElectionTimer, timer_model
from etcdplay.trace import TraceWriter


def _uniform_chaos(jitter: float | None) -> sc.Scenario:
    """The built-in chaos scenario (clock skew included) on the paper's timer."""
    data = sc.load("chaos").to_dict()
    cluster = {
        **data["cluster"],
        "timer": "uniform",
        "election_timeout_ms": [150.0, 300.0],
        "heartbeat_ms": 50.0,
    }
    if jitter is not None:
        cluster["timer_jitter_ms"] = jitter
    return sc.Scenario.model_validate({**data, "cluster": cluster})


def _events(scenario: sc.Scenario, seed: int) -> list[str]:
    """The trace's lines after the header (which records the scenario)."""
    scenario = scenario.expanded(seed)
    sink = io.StringIO()
    run_scenario(scenario, SimBackend(), seed, TraceWriter(make_header(scenario, seed, "sim"), sink))
    return sink.getvalue().splitlines()[1:]


def test_zero_jitter_runs_exactly_as_no_jitter() -> None:
    unset = _events(_uniform_chaos(None), 5)
    assert _events(_uniform_chaos(0.0), 5) == unset
    assert "timer_jitter_ms" not in _uniform_chaos(None).to_dict()["cluster"]  # headers unchanged


def test_jitter_is_deterministic_in_the_seed_and_changes_the_run() -> None:
    jittered = _events(_uniform_chaos(0.05), 5)
    assert _events(_uniform_chaos(0.05), 5) == jittered
    assert jittered != _events(_uniform_chaos(None), 5)
    assert jittered != _events(_uniform_chaos(0.05), 6)


def test_a_jittered_timeout_is_late_by_at_most_the_jitter() -> None:
    sched = HeapScheduler()
    fired: list[float] = []
    timer = ElectionTimer(sched, random.Random(4), 0.150, 0.150, lambda: fired.append(sched.now()), 0.001)
    for round_ in range(200):
        start = round_ * 1.0
        sched.run(start)
        timer.reset()
        sched.run(start + 0.999)
    late = [f - round(f) - 0.150 for f in fired]
    assert len(late) == 200 and min(late) >= 0.0 and max(late) <= 0.001 + 1e-9
    assert max(late) - min(late) > 0.0009  # the whole [0, jitter] is used


def test_bad_jitter_is_refused_with_a_clear_error() -> None:
    uniform = {"timer": "uniform", "election_timeout_ms": (150.0, 300.0), "heartbeat_ms": 50.0}
    for value, words in (
        (-0.1, "greater than or equal to 0"),
        (5000.0, "less than or equal to 1000"),
        (True, "valid number"),
    ):
        with pytest.raises(ValidationError, match=words):
            sc.ClusterSpec(**uniform, timer_jitter_ms=value)
    with pytest.raises(ValidationError, match="uniform timer only"):
        sc.ClusterSpec(timer_jitter_ms=0.05)  # the etcd timer
    assert sc.ClusterSpec(timer_jitter_ms=0.0).timer_jitter_ms == 0.0  # 0 is no jitter: fine for etcd
    for value in (-1.0, float("nan"), 2000.0):
        with pytest.raises(ValueError, match="timer jitter"):
            timer_model("uniform", 50.0, (150.0, 300.0), jitter_ms=value)
    with pytest.raises(ValueError, match="uniform timer only"):
        FailoverParams(
            timer="etcd", election_timeout_ms=1000.0, heartbeat_ms=100.0, timer_jitter_ms=0.1
        ).validate()


FIXED = FailoverParams(
    election_timeout_ms=(150.0, 150.0),
    heartbeat_ms=75.0,
    stale_followers=2,
    check_quorum=True,
    max_seconds=20.0,
)


def test_fixed_timeouts_split_forever_without_jitter_and_elect_with_it() -> None:
    # Without jitter every survivor times out within the heartbeat's latency
    # spread, before any vote request can reach it, every round alike.
    for seed in range(4):
        row = run_failover_trial(FIXED, seed)
        assert row["timed_out"] and row["election_rounds"] > 100
    # With jitter the timers drift apart until one candidate's request
    # reaches two servers before they time out.
    jittered = FailoverParams(
        **{**FIXED.as_dict(), "election_timeout_ms": (150.0, 150.0), "timer_jitter_ms": 2.0}
    )
    rows = [run_failover_trial(jittered, seed) for seed in range(4)]
    assert all(not r["timed_out"] and r["election_rounds"] >= 2 for r in rows)


def test_every_follower_last_hears_the_leader_at_the_synchronized_heartbeat() -> None:
    # The paper's setup: the logs differ before the last heartbeat, which is
    # every follower's last contact with the leader (no later append with
    # the extra entry or its commit to the up-to-date ones).
    for seed in range(6):
        trial = _Trial(FIXED, seed)
        last: dict[str, float] = {}

        def heard(node: str, message: object, trial: _Trial = trial, last: dict[str, float] = last) -> None:
            if not trial.crashed and type(message) is AppendRequest and message.src == trial.leader:
                last[node] = trial.sched.now()
            trial.on_receive(node, message)

        for node in trial.nodes.values():
            node.on_receive = heard
        trial.run()
        assert trial.crashed and len(trial.stale) == 2
        followers = set(trial.names) - {trial.leader}
        assert set(last) == followers
        # one latency draw (uniform(0.5,1.5) ms) after the armed heartbeat
        assert all(0.0005 <= last[n] - trial.heartbeat_at <= 0.0015 for n in followers)
