"""LiveBackend against real etcd: cluster up, real faults, catch-up, hygiene."""

from __future__ import annotations

import statistics
import time

import pytest

from etcdplay.distributions import Distribution
from etcdplay.live.etcd import live_pids
from etcdplay.runner import current_leader

from .conftest import BINARIES, ETCD_34, ETCD_35, scenario

pytestmark = pytest.mark.live


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def converged(backend) -> bool:  # type: ignore[no-untyped-def]
    statuses = [s for s in backend.status() if s.running]
    return len({(s.revision, s.keys, s.hash) for s in statuses}) == 1 and statuses[0].hash is not None


@pytest.mark.parametrize(
    ("size", "etcd_bin"),
    [
        pytest.param(3, ETCD_34, id="3-etcd3.4"),
        pytest.param(5, ETCD_35, id="5-etcd3.5"),
        pytest.param(3, ETCD_35, id="3-etcd3.5"),
        pytest.param(5, ETCD_34, id="5-etcd3.4"),
    ],
)
def test_cluster_comes_up_with_a_leader(make_backend, trace, size: int, etcd_bin: str) -> None:  # type: ignore[no-untyped-def]
    backend = make_backend(scenario(size), etcd_bin, trace)
    statuses = backend.status()
    assert [s.name for s in statuses] == [f"n{i}" for i in range(1, size + 1)]
    leader = current_leader(statuses)
    assert leader is not None
    assert all(s.running and s.leader == leader and s.term == statuses[0].term for s in statuses)
    assert len({s.hash for s in statuses}) == 1 and statuses[0].hash is not None
    assert all(s.applied is not None for s in statuses)  # raftAppliedIndex read from the reply
    roles = [e for e in trace.events if e["kind"] == "role" and e["role"] == "leader"]
    assert roles and roles[-1]["node"] == leader and "etcd_ts" in roles[-1]
    assert len(backend.pids()) == size
    version = "3.4" if etcd_bin == ETCD_34 else "3.5"
    assert trace.events[1]["text"].startswith(f"etcd {version}")


def test_status_events_and_load(make_backend, trace) -> None:  # type: ignore[no-untyped-def]
    backend = make_backend(scenario(3), ETCD_35, trace)
    backend.start_load(200, 1.0, "load/")
    assert backend.load_running()  # its thread started before start_load returned
    assert wait_for(lambda: not backend.load_running(), 10)
    loads = [e for e in trace.events if e["kind"] == "load"]
    assert [e["phase"] for e in loads] == ["start", "end"]
    assert loads[1]["sent"] == 200 and loads[1]["acked"] == 200
    writes = [e for e in trace.events if e["kind"] == "client" and e["source"] == "load"]
    assert len(writes) == 200 and all(
        w["ok"] and w["latency"] > 0 and w["key"].startswith("load/") for w in writes
    )
    assert len(backend.read_all("load/")) == 200
    statuses = [e for e in trace.events if e["kind"] == "status"]
    assert {e["node"] for e in statuses} == {"n1", "n2", "n3"}
    assert statuses[-1]["keys"] is not None and statuses[-1]["hash"] is not None


@pytest.mark.parametrize("etcd_bin", BINARIES)
def test_killed_and_restarted_member_catches_up(make_backend, trace, etcd_bin: str) -> None:  # type: ignore[no-untyped-def]
    backend = make_backend(scenario(3), etcd_bin, trace)
    for i in range(20):
        assert backend.put(f"a/{i}", "x").ok
    leader = current_leader(backend.status())
    follower = next(n for n in backend.nodes() if n != leader)
    pid = backend.members[int(follower[1:]) - 1].pid
    backend.crash([follower])
    assert not any(m.pid == pid and m.running for m in backend.members)
    for i in range(50):
        assert backend.put(f"b/{i}", "y").ok
    down = {s.name: s for s in backend.status()}[follower]
    assert not down.running and down.role == "down"
    backend.restart([follower])
    assert wait_for(lambda: converged(backend), 10)
    final = {s.name: s for s in backend.status()}
    assert final[follower].keys == 70 and final[follower].hash == final[leader].hash  # type: ignore[index]
    assert any(e["kind"] == "role" and e["node"] == follower and e["role"] == "down" for e in trace.events)


def test_stop_is_graceful_and_restart_keeps_data(make_backend, trace) -> None:  # type: ignore[no-untyped-def]
    backend = make_backend(scenario(3), ETCD_34, trace)
    assert backend.put("k", "v1").ok
    backend.stop(["n1"])
    assert "received signal; shutting down" in backend.members[0].log_path.read_text()
    backend.restart(["n1"])
    assert wait_for(lambda: converged(backend), 10)
    assert {s.name: s.keys for s in backend.status()}["n1"] == 1


def test_partition_cuts_exactly_the_named_links(make_backend, trace) -> None:  # type: ignore[no-untyped-def]
    # PreVote on (the etcd 3.5 default, passed explicitly): the cut-off pair never
    # raises its term, talks between itself, and elects no leader; the majority commits.
    # Timers 5x the FAST ones: on a loaded machine a 100 ms election timeout lets a
    # starved leader lose its term, which is not what this test is about.
    backend = make_backend(scenario(5, pre_vote=True, heartbeat_ms=50, election_timeout_ms=500), ETCD_35, trace)
    statuses = backend.status()
    leader = current_leader(statuses)
    term = statuses[0].term
    minority = [n for n in backend.nodes() if n != leader][:2]
    backend.partition([minority])
    mark = len(trace.events)
    time.sleep(2.5)  # 5 election timeouts: the cut-off pair has time to campaign
    for i in range(20):
        result = backend.put(f"p/{i}", "x")
        assert result.ok and result.node == leader
    after = {s.name: s for s in backend.status()}
    for name in minority:
        assert after[name].leader is None and after[name].term == term
        assert after[name].keys == 0 or after[name].revision < after[leader].revision  # type: ignore[operator]
    assert after[leader].term == term and after[leader].role == "leader"
    events = trace.events[mark:]
    assert not [e for e in events if e["kind"] == "role" and e["role"] == "leader"]
    # The two cut-off members still hear each other: each granted the other a pre-vote.
    votes = {(e["node"], e["candidate"]) for e in events if e["kind"] == "vote" and e["pre_vote"]}
    assert (minority[0], minority[1]) in votes or (minority[1], minority[0]) in votes
    # ... and nobody on the majority side saw a pre-vote from them.
    assert not [e for e in events if e["kind"] == "vote" and e["node"] not in minority]
    assert backend.hub.bytes_dropped > 0
    backend.heal()
    assert wait_for(lambda: converged(backend), 10)
    assert current_leader(backend.status()) == leader  # PreVote: healing forces no election


def test_partition_without_prevote_raises_terms(make_backend, trace) -> None:  # type: ignore[no-untyped-def]
    backend = make_backend(scenario(3, pre_vote=False), ETCD_34, trace)
    statuses = backend.status()
    leader = current_leader(statuses)
    term = statuses[0].term
    lonely = next(n for n in backend.nodes() if n != leader)
    backend.partition([[lonely]])
    assert wait_for(lambda: ({s.name: s for s in backend.status()}[lonely].term or 0) > term + 2, 5)
    assert current_leader(backend.status()) == leader


def test_delay_really_delays(make_backend, trace) -> None:  # type: ignore[no-untyped-def]
    backend = make_backend(scenario(3, heartbeat_ms=50, election_timeout_ms=1000), ETCD_35, trace)
    leader = current_leader(backend.status())

    def median_put_ms(tag: str) -> float:
        return statistics.median(backend.put(f"{tag}/{i}", "x").latency for i in range(15)) * 1000

    before = median_put_ms("before")
    backend.delay([leader], Distribution.parse("fixed(40)"))
    delayed = median_put_ms("delayed")
    backend.heal()
    time.sleep(0.3)
    after = median_put_ms("after")
    # A put needs leader -> follower and back: two delayed hops.
    assert before < 30 and after < 30, (before, after)
    assert 75 <= delayed < 400, delayed
    assert current_leader(backend.status()) == leader


def test_close_leaves_nothing_behind(trace) -> None:  # type: ignore[no-untyped-def]
    import psutil

    from etcdplay.live.backend import LiveBackend

    backend = LiveBackend(ETCD_35)
    backend.start(scenario(3), trace, 1)
    pids = backend.pids()
    ports = [m.client_port for m in backend.members] + [m.peer_port for m in backend.members]
    ports += [p.port for p in backend.hub.proxies.values()]
    assert backend.dir is not None and backend.dir.exists()
    backend.close()
    assert not [
        p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
    ]
    assert not backend.dir.exists()
    listening = {c.laddr.port for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN}
    assert not listening & set(ports)
    assert live_pids() == []


def test_keep_data(tmp_path, trace) -> None:  # type: ignore[no-untyped-def]
    from etcdplay.live.backend import LiveBackend

    with LiveBackend(ETCD_35, keep_data=True, data_root=tmp_path) as backend:
        backend.start(scenario(1), trace, 1)
    assert backend.dir is not None and (backend.dir / "n1" / "etcd.log").exists()
    assert (backend.dir / "n1" / "data" / "member").is_dir()


def test_uniform_timer_maps_to_nearest_etcd_flags(make_backend, trace) -> None:  # type: ignore[no-untyped-def]
    sc = scenario(1, timer="uniform", election_timeout_ms=[150, 300], heartbeat_ms=20)
    backend = make_backend(sc, ETCD_35, trace)
    notes = [e["text"] for e in trace.events if e["kind"] == "note"]
    assert any("--election-timeout=150" in n for n in notes)
    assert any("no etcd equivalent" in n for n in notes)
    assert "--election-timeout=150" in backend.members[0].command()
