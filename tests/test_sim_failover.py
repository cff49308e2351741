"""Ongaro's leader-failover experiment: plausible and deterministic."""

from __future__ import annotations

import statistics

import pytest

from etcdplay.sim.failover import FailoverParams, run_failover_trial


def downtimes(params: FailoverParams, trials: int = 200) -> list[float]:
    rows = [run_failover_trial(params, seed) for seed in range(trials)]
    assert not any(r["timed_out"] for r in rows)
    return [r["downtime"] for r in rows]


def test_downtime_is_at_least_a_timeout_minus_the_crash_offset() -> None:
    params = FailoverParams()  # 5 nodes, 150-300 ms, heartbeat 75 ms
    for seed in range(200):
        row = run_failover_trial(params, seed)
        assert row["winner"] not in (None, row["old_leader"])
        assert row["winner_term"] > row["old_term"]
        assert 0 <= row["crash_offset"] <= 0.075
        # followers reset on the heartbeat before the crash
        assert row["downtime"] >= 0.150 - row["crash_offset"]
        assert row["first_candidate"] <= row["downtime"]
        assert row["messages"] > 0
    mean = statistics.mean(downtimes(params))
    assert 0.12 < mean < 0.30


def test_stale_followers_make_elections_slower() -> None:
    fresh = statistics.mean(downtimes(FailoverParams()))
    stale = statistics.mean(downtimes(FailoverParams(stale_followers=2)))
    assert stale > fresh


def test_narrow_timeout_range_splits_votes_more() -> None:
    narrow = FailoverParams(election_timeout_ms=(150.0, 155.0))
    wide = FailoverParams(election_timeout_ms=(150.0, 300.0))
    narrow_splits = sum(run_failover_trial(narrow, s)["split_votes"] for s in range(200))
    wide_splits = sum(run_failover_trial(wide, s)["split_votes"] for s in range(200))
    assert narrow_splits > wide_splits


def test_extra_failures_and_etcd_timers() -> None:
    row = run_failover_trial(FailoverParams(failed=1), 3)
    assert len(row["crashed"]) == 2 and row["winner"] not in row["crashed"]
    etcd = FailoverParams(
        timer="etcd",
        election_timeout_ms=1000.0,
        heartbeat_ms=100.0,
        pre_vote=True,
        check_quorum=True,
    )
    times = [run_failover_trial(etcd, s)["downtime"] for s in range(30)]
    assert min(times) >= 0.9 - 0.1  # 10 ticks, less the crash offset and a tick of phase
    assert max(times) < 3.0


def test_trials_are_deterministic() -> None:
    params = FailoverParams(stale_followers=1, latency_ms="normal(1,0.3)")
    assert run_failover_trial(params, 42) == run_failover_trial(params, 42)
    assert run_failover_trial(params, 42) != run_failover_trial(params, 43)


def test_impossible_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="quorum"):
        run_failover_trial(FailoverParams(nodes=5, failed=2), 1)
    with pytest.raises(ValueError, match="stale"):
        run_failover_trial(FailoverParams(nodes=5, stale_followers=3), 1)
