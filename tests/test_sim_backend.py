"""SimBackend end to end: elections, writes, faults, determinism."""

from __future__ import annotations

from typing import Any

import pytest

from etcdplay.backend import Backend
from etcdplay.distributions import Distribution
from etcdplay.scenario import Scenario
from etcdplay.sim.backend import SimBackend
from etcdplay.trace import TraceWriter


def start(seed: int = 1, **cluster: Any) -> tuple[SimBackend, TraceWriter]:
    scenario = Scenario.model_validate({"cluster": {"size": 5, **cluster}})
    trace = TraceWriter({"backend": "sim", "seed": seed})
    backend = SimBackend()
    backend.start(scenario, trace, seed)
    return backend, trace


def leader_of(backend: SimBackend) -> str | None:
    leaders = [s.name for s in backend.status() if s.role == "leader"]
    return leaders[0] if len(leaders) == 1 else None


def wait_for_leader(backend: SimBackend, timeout: float = 10.0) -> str:
    end = backend.now() + timeout
    while backend.now() < end:
        leader = leader_of(backend)
        if leader is not None:
            return leader
        backend.sleep(0.05)
    raise AssertionError("no leader")


def test_implements_the_backend_protocol() -> None:
    backend = SimBackend()
    assert isinstance(backend, Backend)
    assert backend.name == "sim"


def test_etcd_default_timers_elect_a_leader_in_plausible_time() -> None:
    backend, trace = start(heartbeat_ms=100, election_timeout_ms=1000)
    wait_for_leader(backend)
    first = next(e for e in trace.events if e["kind"] == "role" and e["role"] == "leader")
    # A full election timeout is 10-19 ticks; etcd fast-forwards 8 of them at
    # boot (--initial-election-tick-advance), so the first campaign comes
    # 2-11 ticks after boot (plus the node's tick phase and a round trip).
    assert 0.15 <= first["t"] <= 1.3
    statuses = backend.status()
    assert {s.leader for s in statuses} == {first["node"]}
    assert len({s.term for s in statuses}) == 1


def test_put_get_delete() -> None:
    backend, trace = start()
    wait_for_leader(backend)
    put = backend.put("k", "v")
    assert put.ok and put.latency > 0 and put.node is not None
    got = backend.get("k")
    assert got.ok and got.value == "v"
    assert backend.delete("k").ok
    assert backend.get("k").value is None
    ops = [(e["op"], e["ok"], e["source"]) for e in trace.events if e["kind"] == "client"]
    assert ops == [
        ("put", True, "step"),
        ("get", True, "step"),
        ("delete", True, "step"),
        ("get", True, "step"),
    ]


def test_load_is_all_acked_and_every_node_converges() -> None:
    backend, trace = start()
    wait_for_leader(backend)
    backend.start_load(200, 2.0, "load/")
    assert backend.load_running()
    backend.sleep(3.0)
    assert not backend.load_running()
    end = next(e for e in trace.events if e["kind"] == "load" and e["phase"] == "end")
    assert end["sent"] == end["acked"] == 400 and end["failed"] == 0
    statuses = backend.status()
    assert {(s.revision, s.keys, s.hash) for s in statuses} == {(400, 400, statuses[0].hash)}
    data = backend.read_all("load/")
    assert data is not None and len(data) == 400 and data["load/7"] == "v7"
    assert all(r.ok for r in backend.safety_results())
    assert [r.name for r in backend.safety_results()] == [
        "election-safety",
        "leader-append-only",
        "log-matching",
        "leader-completeness",
        "state-machine-safety",
        "vote-quorum",
        "one-vote-per-term",
        "leader-commits-own-term",
        "follower-commit-verified",
        "append-from-term-leader",
        "match-index-valid",
    ]


def test_crashed_node_keeps_its_persisted_state_and_catches_up() -> None:
    backend, trace = start()
    wait_for_leader(backend)
    for i in range(20):
        assert backend.put(f"a{i}", str(i)).ok
    victim = next(s.name for s in backend.status() if s.role == "follower")
    node = backend._nodes[victim]
    persisted_before = len(node.storage.log)
    backend.crash([victim])
    down = [e for e in trace.events if e["kind"] == "role" and e.get("node") == victim][-1]
    assert down["role"] == "down"
    assert not next(s for s in backend.status() if s.name == victim).running
    for i in range(20):
        assert backend.put(f"b{i}", str(i)).ok
    assert len(node.storage.log) == persisted_before  # nothing written while down
    backend.restart([victim])
    backend.sleep(1.0)
    statuses = backend.status()
    assert len({(s.revision, s.keys, s.hash, s.applied) for s in statuses}) == 1
    assert statuses[0].keys == 40


def test_leader_crash_elects_a_new_leader_and_acked_writes_survive() -> None:
    backend, _ = start(heartbeat_ms=50, election_timeout_ms=500)
    old = wait_for_leader(backend)
    assert backend.put("before", "1").ok
    backend.crash([old])
    backend.sleep(0.1)
    new = wait_for_leader(backend)
    assert new != old
    assert backend.get("before").value == "1"
    backend.restart([old])
    backend.sleep(1.0)
    assert len({s.hash for s in backend.status()}) == 1


def test_stop_lets_pending_writes_land() -> None:
    backend, _ = start(disk_ms="fixed(20)")
    wait_for_leader(backend)
    backend.stop(["n1"])
    backend.sleep(0.1)
    assert not backend._nodes["n1"].running
    backend.restart(["n1"])
    backend.sleep(2.0)
    assert all(s.running for s in backend.status())


def _first(trace: TraceWriter, after: float, **fields: Any) -> dict[str, Any]:
    return next(
        e for e in trace.events if e["t"] >= after - 1e-6 and all(e.get(k) == v for k, v in fields.items())
    )


def test_stopping_the_leader_hands_over_leadership_within_milliseconds() -> None:
    # etcd's defaults: a crash would leave the cluster leaderless for 1-2 s
    backend, trace = start(heartbeat_ms=100, election_timeout_ms=1000)
    old = wait_for_leader(backend)
    backend.start_load(100, 3.0, "load/")
    backend.sleep(1.0)
    stopped_at = backend.now()
    backend.stop([old])
    backend.sleep(0.5)
    new = leader_of(backend)
    assert new is not None and new != old
    elected = _first(trace, stopped_at, kind="role", role="leader")
    assert elected["node"] == new
    assert elected["t"] - stopped_at < 0.05  # a few round trips, not an election timeout
    # the transferee campaigned at once: nobody pre-campaigned
    roles = [e for e in trace.events if e["kind"] == "role" and stopped_at <= e["t"] <= elected["t"]]
    assert [e["role"] for e in roles if e["node"] == new] == ["candidate", "leader"]
    assert not any(e["role"] == "pre-candidate" for e in roles)
    # the old leader stays up as a follower until it sees the new leader
    # (etcd polls once per heartbeat interval), then goes down
    down = _first(trace, stopped_at, kind="role", node=old, role="down")
    assert 0.09 <= down["t"] - stopped_at <= 0.25
    note = _first(trace, stopped_at, kind="note", node=old)
    assert note["text"] == f"stopping leader: leadership transfer to {new}"
    while backend.load_running():
        backend.sleep(0.5)
    load_end = _first(trace, 0.0, kind="load", phase="end")
    assert load_end["acked"] >= load_end["sent"] - 5  # at most a handful lost in the handover
    assert all(r.ok for r in backend.safety_results())
    backend.restart([old])
    backend.sleep(2.0)
    assert len({s.hash for s in backend.status()}) == 1


def test_stopping_a_follower_is_unchanged() -> None:
    backend, trace = start(heartbeat_ms=100, election_timeout_ms=1000)
    leader = wait_for_leader(backend)
    follower = next(n for n in backend.nodes() if n != leader)
    at = backend.now()
    backend.stop([follower])
    assert _first(trace, at, kind="role", node=follower)["t"] == pytest.approx(at)  # down at once
    backend.sleep(0.5)
    assert leader_of(backend) == leader
    assert not any(e["kind"] == "note" and e["t"] >= at for e in trace.events)


def test_a_leader_whose_transfer_fails_stops_after_the_request_timeout() -> None:
    backend, trace = start(heartbeat_ms=100, election_timeout_ms=1000)
    old = wait_for_leader(backend)
    # every TimeoutNow is lost: the core gives up after an election timeout
    # and leads on; the shell waits out etcd's request timeout (5 s + 2 x 1 s)
    backend.network.drop = lambda src, dst, m: type(m).__name__ == "TimeoutNow"
    at = backend.now()
    backend.stop([old])
    backend.sleep(2.0)
    assert leader_of(backend) == old and backend._nodes[old].raft is not None
    assert backend._nodes[old].raft.transferee is None  # aborted: takes proposals again
    backend.sleep(6.0)
    down = _first(trace, at, kind="role", node=old, role="down")
    assert down["t"] - at == pytest.approx(7.0, abs=0.15)
    failed = [e for e in trace.events if e["kind"] == "note" and "failed" in e.get("text", "")]
    assert len(failed) == 1 and failed[0]["node"] == old
    backend.sleep(3.0)
    assert wait_for_leader(backend) != old


def test_minority_partition_cannot_write_majority_can() -> None:
    backend, _ = start(heartbeat_ms=50, election_timeout_ms=500)
    leader = wait_for_leader(backend)
    others = [n for n in backend.nodes() if n != leader]
    backend.partition([[leader, others[0]]])
    backend.sleep(3.0)
    # check-quorum made the old leader step down; the majority elected another
    statuses = {s.name: s for s in backend.status()}
    assert statuses[leader].role != "leader"
    majority_leader = {statuses[n].leader for n in others[1:]}
    assert len(majority_leader) == 1 and None not in majority_leader
    backend.heal()
    backend.sleep(2.0)
    assert backend.put("after-heal", "x").ok
    backend.sleep(0.5)
    assert len({s.hash for s in backend.status()}) == 1


def test_delay_slows_writes_through_a_slow_leader() -> None:
    backend, _ = start()
    leader = wait_for_leader(backend)
    fast = backend.put("fast", "1").latency
    backend.delay([leader], Distribution.parse("fixed(50)"))
    slow = backend.put("slow", "1").latency
    assert slow > fast + 0.05
    backend.heal()
    assert backend.put("again", "1").latency < slow


def test_no_leader_means_a_timeout_error() -> None:
    backend, _ = start()
    wait_for_leader(backend)
    backend.crash(["n1", "n2", "n3"])
    result = backend.put("k", "v")
    assert not result.ok and "timed out" in (result.error or "")
    assert result.latency == pytest.approx(5.0 + 2 * 1.0, abs=0.01)


def test_a_read_at_a_follower_fails_fast_when_its_leader_changes() -> None:
    """etcd's linearizable read loop returns "leader changed" once the member
    learns of a new leader, instead of waiting out the request timeout."""
    backend, trace = start()
    old = wait_for_leader(backend)
    follower = next(s.name for s in backend.status() if s.name != old)
    backend.crash([old])
    got = backend.get("k", node=follower)
    assert not got.ok and got.error == "etcdserver: leader changed", got
    # failed when the follower learned the new leader: an election, not the 7 s timeout
    learned = [e["t"] for e in trace.events if e["kind"] == "leader" and e.get("node") == follower]
    assert 0.5 < got.latency < 3.0 and learned[-1] <= backend.now()
    assert wait_for_leader(backend) != old
    assert backend.get("k", node=follower).ok  # the next read, under the new leader, is answered


def _run(seed: int) -> list[dict[str, Any]]:
    backend, trace = start(seed)
    wait_for_leader(backend)
    backend.start_load(50, 1.0, "x/")
    backend.sleep(0.5)
    backend.crash([leader_of(backend) or "n1"])
    backend.sleep(3.0)
    backend.restart(["n1", "n2", "n3", "n4", "n5"])
    backend.sleep(1.0)
    return trace.events


def test_same_seed_same_events_different_seed_different_events() -> None:
    first = _run(11)
    assert first == _run(11)
    assert first != _run(12)
