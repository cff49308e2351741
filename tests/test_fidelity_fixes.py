"""The fixes that make the simulator measure what etcd and the Raft paper do (issue 13)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from typer.testing import CliRunner

from etcdplay import metrics
from etcdplay.cli import app
from etcdplay.sim.clock import HeapScheduler
from etcdplay.sim.failover import FailoverParams, run_failover_trial
from etcdplay.sim.raft import AppendRequest, Entry, RaftNode, VoteRequest
from etcdplay.sim.timers import EtcdTickTimers, TimerHooks, UniformNodeTimers
from etcdplay.sweep import failover as fo
from etcdplay.sweep.live_trials import measure, steady
from etcdplay.trace import read_trace

runner = CliRunner(env={"COLUMNS": "200"})


# --- 3. sweep failover --failed 1 ------------------------------------------------


def test_failed_servers_crash_while_their_receive_runs() -> None:
    # seed 163 crashed the node whose receive was still on the stack
    params = FailoverParams(failed=1)
    for seed in range(150, 200):
        row = run_failover_trial(params, seed)
        assert not row["timed_out"]
        assert len(row["crashed"]) == 2 and row["winner"] not in row["crashed"]


# --- 1. CheckQuorum for the etcd timer --------------------------------------------


def _sweep_params(tmp_path: Path, *flags: str) -> dict[str, object]:
    out = tmp_path / "s.json"
    result = runner.invoke(
        app,
        ["sweep", "failover", "--trials", "3", "--jobs", "1", "--no-progress", "--json", str(out), *flags],
    )
    assert result.exit_code == 0, result.output
    params: dict[str, object] = json.loads(out.read_text())["configurations"][0]["params"]
    return params


def test_etcd_timer_sweeps_run_with_check_quorum(tmp_path: Path) -> None:
    assert _sweep_params(tmp_path, "--timer", "etcd", "--election-timeout-ms", "100")["check_quorum"] is True
    assert _sweep_params(tmp_path, "--timer", "uniform")["check_quorum"] is False
    off = _sweep_params(tmp_path, "--timer", "etcd", "--election-timeout-ms", "100", "--no-check-quorum")
    assert off["check_quorum"] is False


# --- 1. the lease in the voter's ticks ---------------------------------------------


def _hooks() -> TimerHooks:
    return TimerHooks(lambda: None, lambda: None, lambda: None)


def test_etcd_lease_is_the_voters_own_tick_count() -> None:
    sched = HeapScheduler()
    timers = EtcdTickTimers(sched, random.Random(1), 0.1, 10, _hooks())
    timers.start(leader=False)
    timers.reset_election(1, "follower")
    assert timers.in_lease() is True
    timers.elapsed = 9
    assert timers.in_lease() is True
    timers.elapsed = 10  # electionElapsed == electionTimeout: the lease is over
    assert timers.in_lease() is False
    uniform = UniformNodeTimers(sched, random.Random(1), 0.15, 0.3, 0.075, _hooks())
    assert uniform.in_lease() is None  # measured in time by the core


def _follower_with_leader(lease: bool | None) -> RaftNode:
    node = RaftNode("n2", ["n1", "n2", "n3"], pre_vote=False, check_quorum=True, election_timeout=1.0)
    node.step(AppendRequest("n1", "n2", 1, 0, 0, (Entry(1, 1, None),), 0), now=0.0)
    node.lease_clock = lambda: lease
    return node


def test_vote_requests_obey_the_tick_lease_not_the_clock() -> None:
    vote = VoteRequest("n3", "n2", 2, 1, 1, False, False)
    # in time the lease is long over (5 s > 1 s), but the voter's ticks say it is on
    ignored = _follower_with_leader(True).step(vote, now=5.0)
    assert ignored.messages == [] and ignored.hard_state is None
    # in time it is still on (0.2 s < 1 s), but the ticks say it expired
    granted = _follower_with_leader(False).step(vote, now=0.2)
    assert granted.messages[0].granted
    # no tick count (the uniform model): time decides
    assert _follower_with_leader(None).step(vote, now=0.2).messages == []


# --- 2. LogCabin's timer: no reset on stepping down to a higher term ---------------


def test_stepping_down_to_a_higher_term_is_not_a_contact_reset() -> None:
    node = RaftNode("n2", ["n1", "n2", "n3"], pre_vote=False, check_quorum=False, election_timeout=0.15)
    node.step(AppendRequest("n1", "n2", 1, 0, 0, (Entry(1, 1, None), Entry(1, 2, None)), 0), now=0.0)
    stale = node.step(VoteRequest("n3", "n2", 2, 1, 1, False, False), now=0.1)  # shorter log
    assert not stale.messages[0].granted
    assert stale.reset_election_timer and not stale.contact_reset  # etcd resets, LogCabin does not
    granted = node.step(VoteRequest("n1", "n2", 3, 2, 1, False, False), now=0.2)
    assert granted.messages[0].granted and granted.contact_reset
    heartbeat = node.step(AppendRequest("n1", "n2", 3, 2, 1, (), 0), now=0.3)
    assert heartbeat.contact_reset


def test_uniform_timer_keeps_its_deadline_on_a_step_down() -> None:
    sched = HeapScheduler()
    paper = UniformNodeTimers(sched, random.Random(2), 0.15, 0.3, 0.075, _hooks())
    paper.start(leader=False)
    deadline = paper.election.deadline
    paper.reset_election(5, "follower", contact=False)
    assert paper.election.deadline == deadline
    paper.reset_election(5, "follower", contact=True)
    assert paper.election.deadline != deadline
    etcd_like = UniformNodeTimers(
        sched, random.Random(2), 0.15, 0.3, 0.075, _hooks(), reset_on_step_down=True
    )
    etcd_like.start(leader=False)
    deadline = etcd_like.election.deadline
    etcd_like.reset_election(5, "follower", contact=False)
    assert etcd_like.election.deadline != deadline


def test_paper_timers_keep_split_votes_in_a_narrow_range() -> None:
    # 150-151 ms with stale followers: the paper's figure shows split votes
    # and elections past a second; with etcd's reset-on-step-down they vanished
    narrow = FailoverParams(election_timeout_ms=(150.0, 151.0), stale_followers=2)
    rows = [run_failover_trial(narrow, seed) for seed in range(60)]
    assert sum(r["split_votes"] for r in rows) > 30
    assert max(r["downtime"] for r in rows if r["downtime"] is not None) > 0.6


# --- 4. downtime vs election time -------------------------------------------------


def _trace(tmp_path: Path, lines: list[dict[str, object]]) -> Path:
    header = {
        "t": 0.0,
        "kind": "header",
        "schema": 1,
        "backend": "sim",
        "seed": 1,
        "nodes": ["n1", "n2", "n3"],
        "scenario": {"name": "x", "cluster": {"size": 3}, "steps": []},
    }
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in [header, *lines]) + "\n")
    return path


def test_downtime_waits_for_every_member_election_time_for_the_leader(tmp_path: Path) -> None:
    def role(t: float, node: str, r: str, term: int) -> dict[str, object]:
        return {"t": t, "kind": "role", "node": node, "role": r, "term": term}

    def leader(t: float, node: str, who: str, term: int) -> dict[str, object]:
        return {"t": t, "kind": "leader", "node": node, "leader": who, "term": term}

    path = _trace(
        tmp_path,
        [
            role(0.5, "n1", "candidate", 1),
            role(0.6, "n1", "leader", 1),
            leader(0.6, "n1", "n1", 1),
            leader(0.61, "n2", "n1", 1),
            leader(0.9, "n3", "n1", 1),
            {"t": 2.0, "kind": "fault", "action": "crash", "nodes": ["n1"]},
            role(2.0, "n1", "down", 1),
            role(3.0, "n2", "candidate", 2),
            role(3.1, "n2", "leader", 2),
            leader(3.1, "n2", "n2", 2),
            leader(3.4, "n3", "n2", 2),
            {"t": 5.0, "kind": "end", "duration": 5.0},
        ],
    )
    start, crash = metrics.elections(read_trace(path))
    assert (start.election_time, start.downtime) == (0.6, 0.9)
    assert crash.election_time == 1.1 and crash.downtime == 1.4  # n1 is down: not waited for


# --- 5. live: earliest by time stamp; PreVote counted as in the simulator ---------


def test_live_sample_takes_events_by_time_and_splits_pre_votes() -> None:
    events = [
        # arrival order: n3's log was read first, though n2 campaigned earlier
        {"t": 10.361, "kind": "role", "node": "n3", "role": "pre-candidate", "term": 1},
        {"t": 10.107, "kind": "role", "node": "n2", "role": "pre-candidate", "term": 1},
        {"t": 10.120, "kind": "role", "node": "n2", "role": "candidate", "term": 2},
        {"t": 10.130, "kind": "role", "node": "n2", "role": "leader", "term": 2},
        {"t": 10.131, "kind": "leader", "node": "n2", "leader": "n2", "term": 2},
        {"t": 10.150, "kind": "leader", "node": "n3", "leader": "n2", "term": 2},
    ]
    sample = measure(events, 10.0, "n1", ["n2", "n3"])
    assert sample["first_campaign_ms"] == 107.0
    assert sample["first_candidate_ms"] == 120.0
    assert sample["election_ms"] == 130.0
    assert sample["downtime_ms"] == 150.0


def test_sim_samples_have_the_same_fields() -> None:
    config = fo.FailoverConfig(timer="etcd", election_timeout_ms=100.0, heartbeat_ms=10.0, pre_vote=True)
    for seed in range(20):
        sample = fo.sim_trial(config, seed)
        assert set(fo.SAMPLE_FIELDS) <= set(sample)
        assert sample["first_campaign_ms"] <= sample["first_candidate_ms"] <= sample["election_ms"]
        assert sample["election_ms"] <= sample["downtime_ms"]


def test_live_trials_crash_only_a_steady_leader() -> None:
    assert steady([])
    assert not steady([{"t": 1.0, "kind": "role", "node": "n2", "role": "pre-candidate", "term": 3}])
    assert not steady([{"t": 1.0, "kind": "leader", "node": "n2", "leader": "n3", "term": 4}])
