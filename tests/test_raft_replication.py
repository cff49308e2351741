"""Log replication: AppendEntries consistency check, conflict repair,
nextIndex back-off with hints, the commit rule and Figure 8."""

from __future__ import annotations

from raft_harness import Cluster, figure8, log_of

from etcdplay.sim.raft import (
    MAX_ENTRIES_PER_APPEND,
    AppendRequest,
    AppendResponse,
    Command,
    Entry,
    HardState,
    Message,
    RaftNode,
    Role,
    Storage,
)


def put(key: str, term: int, index: int) -> Entry:
    return Entry(term, index, Command("put", key, f"v{index}"))


def follower(log: list[Entry], term: int, commit: int = 0) -> RaftNode:
    return RaftNode(
        "f",
        ["l", "f", "x"],
        pre_vote=False,
        check_quorum=False,
        election_timeout=1.0,
        storage=Storage(HardState(term, None, commit), log),
    )


def test_replication_and_commit() -> None:
    c = Cluster(3)
    c.elect("n1")
    out = c.propose("n1", "a", "1")
    assert [e.index for e in out.appended] == [2]
    assert out.committed == []  # not before a quorum has it
    assert [m.dst for m in out.messages] == ["n2", "n3"]
    c.deliver()
    for i in c.ids:
        assert c[i].commit_index == 2
        assert c.kv[i].get("a") == "1"
        assert c.kv[i].revision == 1
    assert c["n1"].match_index("n2") == 2 and c["n1"].next_index("n2") == 3
    assert len({c.kv[i].hash for i in c.ids}) == 1
    assert c.monitor.ok


def test_commit_needs_a_quorum() -> None:
    c = Cluster(5)
    c.elect("n1")
    c.crash("n4")
    c.crash("n5")
    c.crash("n3")
    c.propose("n1", "a")
    c.deliver()
    assert c["n1"].commit_index == 1  # only n1, n2 have index 2
    c.restart("n3")
    c.heartbeat("n1")
    c.deliver()
    assert c["n1"].commit_index == 2
    assert c.kv["n3"].get("a") == "v"


def test_followers_commit_no_further_than_what_they_verified() -> None:
    f = follower([put("a", 1, 1), put("b", 1, 2), put("stale", 1, 3)], term=2)
    # the leader's commit is 3, but this request only vouches for index 2
    out = f.step(AppendRequest("l", "f", 2, 1, 1, (put("b", 1, 2),), 3), 0.0)
    assert f.commit_index == 2
    assert [e.index for e in out.committed] == [1, 2]
    assert out.hard_state == HardState(2, None, 2)


def test_heartbeat_carries_commit() -> None:
    f = follower([put("a", 1, 1)], term=1)
    out = f.step(AppendRequest("l", "f", 1, 1, 1, (), 1), 0.0)
    assert f.commit_index == 1 and out.committed == [put("a", 1, 1)]
    assert out.messages == [AppendResponse("f", "l", 1, True, 1, 0)]


def test_duplicate_or_stale_append_never_truncates() -> None:
    log = [put("a", 1, 1), put("b", 1, 2), put("c", 1, 3)]
    f = follower(list(log), term=1)
    # a delayed copy of an old request covering only index 2
    out = f.step(AppendRequest("l", "f", 1, 1, 1, (put("b", 1, 2),), 0), 0.0)
    assert list(f.log) == log
    assert out.log_truncated_from is None and out.appended == []
    assert out.messages == [AppendResponse("f", "l", 1, True, 2, 0)]


def test_conflict_truncates_and_replaces_from_the_first_conflict() -> None:
    f = follower([put("a", 1, 1), put("x", 2, 2), put("y", 2, 3)], term=3)
    new = (put("b", 1, 2), put("c", 3, 3))
    # index 2 conflicts (term 2 vs 1): truncate from 2, append both
    out = f.step(AppendRequest("l", "f", 3, 1, 1, new, 0), 0.0)
    assert out.log_truncated_from == 2
    assert out.appended == list(new)
    assert list(f.log) == [put("a", 1, 1), *new]


def test_mismatch_rejects_with_hint() -> None:
    # follower log terms: 1 1 2 2 2 ; leader probes at index 5 with term 3
    f = follower(
        [put(k, t, i) for k, t, i in [("a", 1, 1), ("b", 1, 2), ("c", 2, 3), ("d", 2, 4), ("e", 2, 5)]],
        term=3,
    )
    out = f.step(AppendRequest("l", "f", 3, 5, 3, (), 0), 0.0)
    [resp] = out.messages
    assert isinstance(resp, AppendResponse) and not resp.success
    assert resp.match_index == 5  # which probe this answers
    assert resp.hint_index == 5  # term 2 <= 3: index 5 may still match an earlier prev
    # prev term 1 at index 5: entries of term 2 cannot match, skip them all
    out = f.step(AppendRequest("l", "f", 3, 5, 1, (), 0), 0.0)
    assert out.messages[0].hint_index == 2  # type: ignore[union-attr]
    # prev beyond our log: hint our last index
    out = f.step(AppendRequest("l", "f", 3, 9, 3, (), 0), 0.0)
    assert out.messages[0].hint_index == 5  # type: ignore[union-attr]


def test_divergent_follower_is_repaired_with_fast_backoff() -> None:
    """n3 led term 2 and wrote 28 entries nobody else has; n1 led term 3 and
    committed up to 12. n1 wins term 4 and overwrites n3's divergent tail. The
    rejection hints (follower and leader side) skip the whole divergent term:
    one probe, one retry, then the batch."""
    c = Cluster(3)
    leader_log = log_of(1, 1, *[3] * 10)
    c.load("n1", 3, leader_log, commit=12)
    c.load("n2", 3, leader_log, commit=12)
    c.load("n3", 3, log_of(1, 1, *[2] * 28), commit=2)
    c.timeout("n1")
    probes: list[tuple[int, int]] = []

    def spy(m: Message) -> Message:
        if isinstance(m, AppendRequest) and m.dst == "n3":
            probes.append((m.prev_index, len(m.entries)))
        return m

    c.deliver(spy)
    assert c["n1"].role is Role.LEADER
    assert probes[:2] == [(12, 1), (2, 11)]  # then at most an empty one carrying commit
    assert all(n == 0 for _, n in probes[2:])
    assert list(c["n3"].log) == list(c["n1"].log)
    [out] = [o for o in c.outputs["n3"] if o.log_truncated_from is not None][-1:]
    assert out.log_truncated_from == 3
    assert [e.index for e in out.appended] == list(range(3, 14))
    assert c["n3"].commit_index == 13
    assert c.monitor.ok, c.monitor.results()


def test_laggard_is_caught_up_in_batches() -> None:
    c = Cluster(3)
    c.elect("n1")
    c.crash("n3")
    for k in range(150):
        c.propose("n1", f"k{k}")
    c.deliver()
    c.restart("n3")
    c.heartbeat("n1")
    sizes: list[int] = []

    def spy(m: Message) -> Message:
        if isinstance(m, AppendRequest) and m.dst == "n3" and m.entries:
            sizes.append(len(m.entries))
        return m

    c.deliver(spy)
    assert max(sizes) == MAX_ENTRIES_PER_APPEND
    assert sum(sizes) == 150
    assert list(c["n3"].log) == list(c["n1"].log)
    assert c["n3"].commit_index == 151
    assert c.kv["n3"].hash == c.kv["n1"].hash


def test_lost_append_is_recovered_by_heartbeat() -> None:
    c = Cluster(3)
    c.elect("n1")
    to_n3 = lambda m: None if m.dst == "n3" and isinstance(m, AppendRequest) else m  # noqa: E731
    c.propose("n1", "a")
    c.propose("n1", "b")
    c.deliver(to_n3)
    assert c["n3"].last_index == 1 and c["n1"].commit_index == 3
    c.heartbeat("n1")  # n3 rejects (prev 3 is beyond its log), then is repaired
    c.deliver()
    assert list(c["n3"].log) == list(c["n1"].log)
    assert c["n3"].commit_index == 3


def test_lost_append_in_replicate_state_is_repaired_at_once() -> None:
    c = Cluster(3)
    c.elect("n1")
    c.propose("n1", "a")
    c.deliver(lambda m: None if m.dst == "n3" and isinstance(m, AppendRequest) else m)
    c.propose("n1", "b")  # sent optimistically from index 3: n3 rejects, n1 probes back
    c.deliver()
    assert list(c["n3"].log) == list(c["n1"].log)


def test_figure_8_old_term_entry_not_committed_by_counting() -> None:
    c = Cluster(5)
    figure8(c)
    # n1, as leader of term 4, never committed index 2 (term 2) ...
    assert c["n1"].commit_index == 1
    assert c.kv["n1"].get("x") is None
    # ... so n5 overwriting it is legal and everyone converges on n5's log
    for i in ("n2", "n3", "n4", "n5"):
        assert list(c[i].log) == list(c["n5"].log)
        assert c[i].commit_index == 3
    assert c.monitor.ok, c.monitor.results()


def test_leader_commits_old_entries_with_its_noop() -> None:
    """The no-op makes Figure 8 harmless: once the no-op of the current term
    is on a quorum, the older entries before it commit with it."""
    c = Cluster(3)
    c.load("n1", 2, log_of(1, 2), commit=1)
    c.load("n2", 2, log_of(1), commit=1)
    c.load("n3", 2, log_of(1), commit=1)
    c.timeout("n1")
    c.deliver()
    assert c["n1"].commit_index == 3
    assert c.kv["n2"].get("k") == "k2@t2"
