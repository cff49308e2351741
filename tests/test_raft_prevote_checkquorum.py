"""etcd's PreVote, CheckQuorum and leader lease."""

from __future__ import annotations

from raft_harness import Cluster

from etcdplay.sim.raft import HardState, RaftNode, Role, VoteRequest, VoteResponse


def test_pre_vote_round_does_not_touch_anyones_term() -> None:
    c = Cluster(3, pre_vote=True)
    out = c.timeout("n1")
    assert c["n1"].role is Role.PRE_CANDIDATE and c["n1"].term == 0
    assert out.hard_state is None  # nothing to persist: no term, no vote
    assert out.messages == [
        VoteRequest("n1", "n2", 1, 0, 0, True),
        VoteRequest("n1", "n3", 1, 0, 0, True),
    ]
    c.deliver_one()  # n2 grants the pre-vote...
    assert c["n2"].term == 0 and c["n2"].voted_for is None  # ...without changing state
    assert c.queue[-1] == VoteResponse("n2", "n1", 1, True, True)
    c.deliver()
    assert c["n1"].role is Role.LEADER and c["n1"].term == 1
    roles = [e["role"] for e in c.events("n1", "role")]
    assert roles == ["pre-candidate", "candidate", "leader"]
    assert c.monitor.ok


def test_pre_vote_rejected_with_higher_term_makes_us_follow_that_term() -> None:
    n = RaftNode("n1", ["n1", "n2", "n3"], pre_vote=True, check_quorum=False, election_timeout=1)
    n.election_timeout_fired(0.0)
    out = n.step(VoteResponse("n2", "n1", 7, False, True), 0.0)
    assert n.role is Role.FOLLOWER and n.term == 7
    assert out.hard_state == HardState(7, None, 0)


def test_pre_candidate_gives_up_on_a_majority_of_rejections() -> None:
    n = RaftNode("n1", ["n1", "n2", "n3"], pre_vote=True, check_quorum=False, election_timeout=1)
    n.election_timeout_fired(0.0)
    n.step(VoteResponse("n2", "n1", 0, False, True), 0.0)
    assert n.role is Role.PRE_CANDIDATE
    n.step(VoteResponse("n3", "n1", 0, False, True), 0.0)
    assert n.role is Role.FOLLOWER and n.term == 0


def test_real_vote_responses_do_not_count_in_a_pre_election() -> None:
    n = RaftNode("n1", ["n1", "n2", "n3"], pre_vote=True, check_quorum=False, election_timeout=1)
    n.election_timeout_fired(0.0)
    n.step(VoteResponse("n2", "n1", 0, True, False), 0.0)
    assert n.role is Role.PRE_CANDIDATE


def isolate_and_time_out(c: Cluster, node: str, times: int) -> None:
    c.isolate(node)
    for _ in range(times):
        c.advance(1.0)
        c.timeout(node)
        c.deliver()


def test_pre_vote_prevents_term_inflation_by_an_isolated_node() -> None:
    c = Cluster(3, pre_vote=True)
    c.elect("n1")
    term = c["n1"].term
    c.isolate("n3")
    c.propose("n1", "while-away")  # n3 falls behind
    c.deliver()
    isolate_and_time_out(c, "n3", 5)
    assert c["n3"].term == term  # pre-votes never got a quorum: no term growth
    assert c["n3"].role is Role.PRE_CANDIDATE
    c.heal()
    c.timeout("n3")  # rejoins and tries again: its log is behind, both reject
    c.deliver()
    assert c["n3"].role is Role.FOLLOWER
    c.heartbeat("n1")
    c.deliver()
    assert c.leaders() == ["n1"] and c["n1"].term == term  # not disrupted
    assert list(c["n3"].log) == list(c["n1"].log)
    assert c.monitor.ok


def test_without_pre_vote_an_isolated_node_inflates_its_term_and_disrupts() -> None:
    c = Cluster(3, pre_vote=False)
    c.elect("n1")
    c.isolate("n3")
    c.propose("n1", "while-away")
    c.deliver()
    isolate_and_time_out(c, "n3", 5)
    assert c["n3"].term == 6
    c.heal()
    c.heartbeat("n1")  # n3 answers with term 6...
    c.deliver()
    assert c["n1"].role is Role.FOLLOWER and c["n1"].term == 6  # ...and the leader is deposed
    assert c.leaders() == []
    # n3 cannot win (stale log); n1 or n2 must run again, in a higher term
    c.timeout("n1")
    c.deliver()
    assert c.leaders() == ["n1"] and c["n1"].term == 7
    assert c.monitor.ok


def test_check_quorum_steps_down_a_leader_cut_off_from_the_majority() -> None:
    c = Cluster(3, check_quorum=True)
    c.elect("n1")
    c.advance(1.0)
    c.heartbeat("n1")
    c.deliver()
    c.check_quorum_tick("n1")
    assert c["n1"].role is Role.LEADER  # heard from n2, n3
    c.isolate("n1")
    c.advance(0.5)
    c.heartbeat("n1")
    c.deliver()
    c.advance(0.5)
    out = c.check_quorum_tick("n1")
    assert c["n1"].role is Role.FOLLOWER and c["n1"].term == 1
    assert c["n1"].leader is None
    assert {"role": "follower", "term": 1} in [e.fields for e in out.events]
    assert {"leader": None, "term": 1} in [e.fields for e in out.events]


def test_check_quorum_with_one_live_peer_is_enough_for_three_nodes() -> None:
    c = Cluster(3, check_quorum=True)
    c.elect("n1")
    c.crash("n3")
    for _ in range(3):
        c.advance(1.0)
        c.heartbeat("n1")
        c.deliver()
        c.check_quorum_tick("n1")
    assert c["n1"].role is Role.LEADER


def test_check_quorum_does_not_judge_a_leader_elected_moments_ago() -> None:
    c = Cluster(3, check_quorum=True)
    c.elect("n1")
    c.isolate("n1")
    c.advance(0.1)
    c.check_quorum_tick("n1")  # too early to tell
    assert c["n1"].role is Role.LEADER
    c.advance(1.0)
    c.check_quorum_tick("n1")  # judges [0, 1.1]: n2, n3 answered the election's appends
    assert c["n1"].role is Role.LEADER
    c.advance(1.0)
    c.check_quorum_tick("n1")  # [1.1, 2.1]: silence
    assert c["n1"].role is Role.FOLLOWER


def test_check_quorum_off_means_no_step_down() -> None:
    c = Cluster(3, check_quorum=False)
    c.elect("n1")
    c.isolate("n1")
    c.advance(5.0)
    c.check_quorum_tick("n1")
    assert c["n1"].role is Role.LEADER


def test_lease_ignores_disruptive_vote_requests() -> None:
    c = Cluster(3, check_quorum=True)
    c.elect("n1")
    c.advance(0.3)
    c.heartbeat("n1")
    c.deliver()
    req = VoteRequest("n3", "n2", 9, 99, 99, False)  # even with a better log
    c.advance(0.5)  # n2 heard from n1 0.5 s ago: within the lease
    out = c.handle("n2", c["n2"].step(req, c.now))
    assert out.messages == [] and out.hard_state is None
    assert c["n2"].term == 1 and c["n2"].voted_for == "n1"
    out = c.handle("n2", c["n2"].step(VoteRequest("n3", "n2", 9, 99, 99, True), c.now))
    assert out.messages == []  # pre-votes too
    # the leader itself is always within its lease
    out = c.handle("n1", c["n1"].step(VoteRequest("n3", "n1", 9, 99, 99, False), c.now))
    assert out.messages == [] and c["n1"].role is Role.LEADER
    # once the lease has run out, the request is heard
    c.advance(1.0)
    out = c.handle("n2", c["n2"].step(req, c.now))
    assert c["n2"].term == 9 and c["n2"].voted_for == "n3"
    assert out.messages == [VoteResponse("n2", "n3", 9, True, False)]


def test_no_lease_without_check_quorum() -> None:
    c = Cluster(3, check_quorum=False)
    c.elect("n1")
    out = c.handle("n2", c["n2"].step(VoteRequest("n3", "n2", 9, 99, 99, False), c.now))
    assert c["n2"].term == 9 and out.messages[0].granted  # type: ignore[union-attr]


def test_pre_vote_and_check_quorum_rejoin_without_disruption() -> None:
    c = Cluster(5, pre_vote=True, check_quorum=True)
    c.elect("n1")
    isolate_and_time_out(c, "n5", 4)
    # the rest keep their leader alive meanwhile
    c.heartbeat("n1")
    c.deliver()
    c.heal()
    c.timeout("n5")  # log is up to date, but everyone is in the lease
    c.deliver()
    assert c["n5"].term == 1 and c.leaders() == ["n1"]
    c.heartbeat("n1")
    c.deliver()
    assert c["n5"].role is Role.FOLLOWER and c["n5"].leader == "n1"
    assert c.monitor.ok
