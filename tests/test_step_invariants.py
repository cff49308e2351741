"""The safety monitor's step invariants: each reported on a hand-built (or
deliberately broken) step, silent on the real core."""

from __future__ import annotations

from raft_harness import Cluster, figure8, log_of
from test_safety import CountingCommitter, checks_failed

from etcdplay.sim.raft import (
    AppendRequest,
    AppendResponse,
    Entry,
    HardState,
    Output,
    RaftEvent,
    RaftNode,
    Role,
    Storage,
    VoteResponse,
)
from etcdplay.sim.safety import SafetyMonitor


def _role(role: Role, term: int) -> RaftEvent:
    return RaftEvent("role", {"role": role.value, "term": term})


def _vote(candidate: str, term: int, *, granted: bool = True, pre_vote: bool = False) -> RaftEvent:
    return RaftEvent("vote", {"candidate": candidate, "term": term, "granted": granted, "pre_vote": pre_vote})


def _node(node_id: str, n: int = 5, term: int = 0, log: list[Entry] | None = None) -> RaftNode:
    peers = [f"n{i}" for i in range(1, n + 1)]
    storage = Storage(HardState(term, None, 0), list(log or [])) if term or log else None
    return RaftNode(node_id, peers, pre_vote=False, check_quorum=False, election_timeout=1.0, storage=storage)


# --- vote quorum ---------------------------------------------------------------------


def test_a_leader_without_a_quorum_of_distinct_grants_is_reported() -> None:
    m = SafetyMonitor()
    nodes = {f"n{i}": _node(f"n{i}") for i in range(1, 6)}
    m.observe_output("n1", nodes["n1"], Output(events=[_role(Role.CANDIDATE, 1)]), 0.1)
    # n2's grant came twice (a duplicated message), n3 refused: 2 of 5 voters
    m.observe_output("n2", nodes["n2"], Output(events=[_vote("n1", 1)]), 0.2)
    m.observe_output("n2", nodes["n2"], Output(events=[_vote("n1", 1)]), 0.3)
    m.observe_output("n3", nodes["n3"], Output(events=[_vote("n1", 1, granted=False)]), 0.3)
    m.observe_output("n4", nodes["n4"], Output(events=[_vote("n1", 2, pre_vote=True)]), 0.3)
    m.observe_output("n1", nodes["n1"], Output(events=[_role(Role.LEADER, 1)]), 0.4)
    assert checks_failed(m) == {"vote_quorum"}
    [v] = m.violations
    assert v.time == 0.4 and v.nodes == ("n1", "n2") and "only 2 distinct member(s) of 5" in v.detail


def test_a_leader_with_a_quorum_of_grants_passes() -> None:
    m = SafetyMonitor()
    nodes = {f"n{i}": _node(f"n{i}") for i in range(1, 6)}
    m.observe_output("n2", nodes["n2"], Output(events=[_vote("n1", 1)]), 0.2)
    m.observe_output("n5", nodes["n5"], Output(events=[_vote("n1", 1)]), 0.2)
    m.observe_output("n1", nodes["n1"], Output(events=[_role(Role.LEADER, 1)]), 0.4)
    assert m.ok, m.results()


def test_a_candidate_counting_each_grant_message_is_caught() -> None:
    """A broken core (the votes-counted-per-message mutant): a duplicated
    grant counts twice, so 2 of 5 elect."""

    class CountsMessages(RaftNode):
        def _on_vote_response(self, m: VoteResponse) -> None:
            if self._role is Role.CANDIDATE and not m.pre_vote:
                self._votes[f"{m.src}#{len(self._votes)}"] = m.granted
                if sum(1 for v in self._votes.values() if v) >= self._quorum:
                    self._become_leader()

    c = Cluster(5, node_classes={"n1": CountsMessages})
    c.timeout("n1")
    [request] = [m for m in c.queue if m.dst == "n2"]
    c.queue.clear()  # n3, n4, n5 never hear of it
    [grant] = c.handle("n2", c["n2"].step(request, c.now)).messages
    assert isinstance(grant, VoteResponse) and grant.granted
    for _ in range(2):  # the network delivers the grant twice
        c.handle("n1", c["n1"].step(grant, c.now))
    assert c["n1"].role is Role.LEADER
    assert "vote_quorum" in checks_failed(c.monitor)


# --- one vote per term -------------------------------------------------------------------


def test_a_second_vote_in_a_term_is_reported() -> None:
    m = SafetyMonitor()
    n3 = _node("n3")
    m.observe_output("n3", n3, Output(events=[_vote("n1", 2)]), 1.0)
    m.observe_output("n3", n3, Output(events=[_vote("n1", 2)]), 1.1)  # the same vote again: fine
    m.observe_output("n3", n3, Output(events=[_vote("n2", 3)]), 1.2)  # a new term: fine
    assert m.ok
    m.observe_output("n3", n3, Output(events=[_vote("n4", 3)]), 1.3)
    assert checks_failed(m) == {"one_vote_per_term"}
    assert "voted for n2 and then for n4 in term 3" in m.violations[0].detail


def test_a_restart_that_forgets_the_persisted_vote_is_reported() -> None:
    class Forgetful(RaftNode):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            self._voted_for = None
            self._saved = (self._term, None, self._commit)

    c = Cluster(3, check_persistence=False)  # the broken node's state is not its disk's
    c.elect("n1")
    assert c.disk["n2"].hard_state.voted_for == "n1"
    c.crash("n2")
    c.node_classes["n2"] = Forgetful
    c.restart("n2")
    assert checks_failed(c.monitor) == {"one_vote_per_term"}
    v = c.monitor.violations[0]
    assert v.nodes == ("n2",) and "persisted term 1 and a vote for n1" in v.detail


def test_a_vote_lost_before_it_was_persisted_may_be_given_again() -> None:
    # n3 voted for n1 in term 2 and crashed before the write: nobody got that
    # vote, its disk says term 1, and it may vote for n2 in term 2.
    m = SafetyMonitor()
    m.observe_output("n3", _node("n3"), Output(events=[_vote("n1", 2)]), 1.0)
    back = _node("n3", term=1)
    m.on_restart("n3", back, HardState(1, None, 0), 2.0)
    m.observe_output("n3", back, Output(events=[_vote("n2", 2)]), 2.1)
    assert m.ok, m.results()


def test_the_real_core_restarts_with_its_vote() -> None:
    c = Cluster(3)
    c.elect("n1")
    for node in ("n2", "n3", "n1"):
        c.crash(node)
        c.restart(node)
    c.timeout("n2")
    c.deliver()
    assert c.monitor.ok, c.monitor.results()


# --- commitment ---------------------------------------------------------------------------


def test_a_leader_committing_an_old_term_entry_by_counting_is_reported_at_once() -> None:
    c = Cluster(5, node_classes={"n1": CountingCommitter})
    figure8(c)
    failed = checks_failed(c.monitor)
    assert "leader_commits_own_term" in failed
    v = next(v for v in c.monitor.violations if v.check == "leader_commits_own_term")
    # reported when n1 (term 4) commits index 2 of term 2, before n5 overwrites it
    assert v.nodes == ("n1",) and "term 4" in v.detail and "index to 2, an entry of term 2" in v.detail
    first_completeness = next(v for v in c.monitor.violations if v.check == "leader_completeness")
    assert v.time <= first_completeness.time


def test_the_real_core_commits_only_own_term_entries_in_figure_8() -> None:
    c = Cluster(5)
    figure8(c)
    assert c.monitor.ok, c.monitor.results()


def _follower_commits(commit: int, match: int) -> SafetyMonitor:
    m = SafetyMonitor()
    m.on_leader("n1", 1, 0.0)
    f = _node("n2", term=1, log=log_of(1, 1, 1, 1, 1))
    m.observe_output("n2", f, Output(), 0.0)
    out = Output(
        messages=[AppendResponse("n2", "n1", 1, True, match, 0)],
        hard_state=HardState(1, "n1", commit),
    )
    m.observe_output("n2", f, out, 1.0)
    return m


def test_a_follower_committing_past_the_verified_entries_is_reported() -> None:
    m = _follower_commits(commit=5, match=3)
    assert checks_failed(m) == {"follower_commit_verified"}
    assert "from 0 to 5, past the last entry the append verified (3)" in m.violations[0].detail
    assert _follower_commits(commit=3, match=3).ok


def test_a_follower_committing_with_no_acknowledgement_is_reported() -> None:
    m = SafetyMonitor()
    f = _node("n2", term=1, log=log_of(1, 1))
    m.observe_output("n2", f, Output(), 0.0)
    m.observe_output("n2", f, Output(hard_state=HardState(1, None, 2)), 1.0)
    assert checks_failed(m) == {"follower_commit_verified"}


def test_a_real_laggard_catching_up_in_batches_commits_within_each_batch() -> None:
    c = Cluster(3)
    c.elect("n1")
    c.isolate("n3")
    for k in range(150):  # more than two append batches
        c.propose("n1", f"k{k}")
        c.deliver()
    c.heal()
    c.heartbeat("n1")
    c.deliver()
    assert c["n3"].commit_index == c["n1"].commit_index == 151
    assert c.monitor.ok, c.monitor.results()


# --- acknowledgements ---------------------------------------------------------------------


def test_acknowledging_an_append_from_an_old_terms_leader_is_reported() -> None:
    c = Cluster(3)
    c.elect("n1")
    c.elect("n2")  # term 2
    m = c.monitor
    n3 = c["n3"]
    ack = AppendResponse("n3", "n1", 2, True, 1, 0)  # n1 does not lead term 2
    m.observe_output("n3", n3, Output(messages=[ack]), 5.0)
    assert checks_failed(m) == {"append_from_term_leader"}
    v = m.violations[0]
    assert v.nodes == ("n3", "n1") and "its leader: n2" in v.detail


def test_a_stale_leaders_append_is_refused_by_the_real_core() -> None:
    c = Cluster(3)
    c.elect("n1")
    stale = AppendRequest("n1", "n3", 1, 1, 1, (), 1)
    c.elect("n2")
    c.handle("n3", c["n3"].step(stale, c.now))
    assert c.monitor.ok, c.monitor.results()


def test_acknowledging_a_prefix_that_differs_from_the_leaders_is_reported() -> None:
    c = Cluster(3)
    for node in ("n1", "n2"):
        c.load(node, 1, log_of(1))
    c.load("n3", 1, log_of(1, 1, 1))  # a tail from term 1 that n1 never had
    c.isolate("n3")
    c.elect("n1")  # term 2: n1's log is [k1, no-op of term 2]
    m = c.monitor
    m.observe_output("n3", c["n3"], Output(messages=[AppendResponse("n3", "n1", 2, True, 1, 0)]), 9.0)
    assert m.ok  # index 1 does match
    m.observe_output("n3", c["n3"], Output(messages=[AppendResponse("n3", "n1", 2, True, 3, 0)]), 9.1)
    assert checks_failed(m) == {"match_index_valid"}
    assert "acknowledged index 3 to the leader of term 2" in m.violations[0].detail


def test_the_real_core_acknowledges_only_what_it_verified() -> None:
    # n3 holds a longer stale tail than the append verifies; a duplicated old
    # append must not make it claim that tail
    c = Cluster(3)
    c.load("n1", 1, log_of(1))
    c.load("n2", 1, log_of(1))
    c.load("n3", 1, log_of(1, 1, 1))
    c.elect("n1")
    c.propose("n1", "a")
    first = [m for m in c.queue if isinstance(m, AppendRequest) and m.dst == "n3"]
    c.deliver()
    for m in first:
        c.handle("n3", c["n3"].step(m, c.now))  # the same appends again, late
    c.deliver()
    assert c.monitor.ok, c.monitor.results()
