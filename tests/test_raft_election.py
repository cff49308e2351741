"""Elections: Figure 2's RequestVote rules, one vote per term, stepping down."""

from __future__ import annotations

from raft_harness import Cluster

from etcdplay.sim.raft import (
    AppendRequest,
    AppendResponse,
    Entry,
    HardState,
    NotLeader,
    RaftNode,
    Role,
    Storage,
    VoteRequest,
    VoteResponse,
)


def node(node_id: str = "n1", peers: tuple[str, ...] = ("n1", "n2", "n3"), **kw: object) -> RaftNode:
    opts: dict[str, object] = {"pre_vote": False, "check_quorum": False, "election_timeout": 1.0}
    opts.update(kw)
    return RaftNode(node_id, peers, **opts)  # type: ignore[arg-type]


def test_single_election() -> None:
    c = Cluster(3)
    out = c.timeout("n1")
    assert c["n1"].role is Role.CANDIDATE and c["n1"].term == 1
    assert out.reset_election_timer
    # own vote is persisted in the same Output as the requests
    assert out.hard_state == HardState(1, "n1", 0)
    assert [type(m) for m in out.messages] == [VoteRequest, VoteRequest]
    assert [m.dst for m in out.messages] == ["n2", "n3"]
    c.deliver()
    assert c.leaders() == ["n1"]
    assert c["n2"].leader == "n1" and c["n3"].leader == "n1"
    # the new leader's no-op is committed and applied everywhere
    for i in c.ids:
        assert c[i].commit_index == 1
        assert c[i].log[0] == Entry(1, 1, None)
        assert c.kv[i].applied_index == 1
    assert c.monitor.ok
    assert c.events("n1", "role")[-1] == {"role": "leader", "term": 1}
    assert {"leader": "n1", "term": 1} in c.events("n2", "leader")


def test_single_node_cluster_elects_itself_and_commits() -> None:
    n = RaftNode("solo", ["solo"], pre_vote=True, check_quorum=True, election_timeout=1.0)
    out = n.election_timeout_fired(0.0)
    assert n.role is Role.LEADER and n.term == 1
    assert [e.index for e in out.committed] == [1]
    from etcdplay.sim.raft import Command

    out = n.propose(Command("put", "k", "v"), 0.1)
    assert [e.command for e in out.committed] == [Command("put", "k", "v")]


def test_vote_is_persisted_in_the_same_output_as_the_grant() -> None:
    n = node("n2")
    out = n.step(VoteRequest("n1", "n2", 5, 0, 0, False), 0.0)
    assert out.messages == [VoteResponse("n2", "n1", 5, True, False)]
    assert out.hard_state == HardState(5, "n1", 0)
    assert out.must_persist()
    assert out.reset_election_timer
    assert out.events[-1].kind == "vote"
    assert out.events[-1].fields == {
        "candidate": "n1",
        "term": 5,
        "granted": True,
        "pre_vote": False,
    }


def test_one_vote_per_term() -> None:
    n = node("n2")
    n.step(VoteRequest("n1", "n2", 1, 0, 0, False), 0.0)
    out = n.step(VoteRequest("n3", "n2", 1, 0, 0, False), 0.0)
    assert out.messages == [VoteResponse("n2", "n3", 1, False, False)]
    assert out.hard_state is None
    # a repeated request from the same candidate gets the same answer
    out = n.step(VoteRequest("n1", "n2", 1, 0, 0, False), 0.0)
    assert out.messages == [VoteResponse("n2", "n1", 1, True, False)]


def test_vote_survives_restart() -> None:
    n = node("n2")
    n.step(VoteRequest("n1", "n2", 1, 0, 0, False), 0.0)
    restarted = node("n2", storage=n.storage())
    out = restarted.step(VoteRequest("n3", "n2", 1, 0, 0, False), 0.0)
    assert out.messages[0].granted is False  # type: ignore[union-attr]


def test_up_to_date_check_rejects_shorter_or_older_logs() -> None:
    log = [Entry(1, 1, None), Entry(2, 2, None)]
    n = node("n2", storage=Storage(HardState(2, None, 0), log))
    # older last term loses, even with a longer log
    out = n.step(VoteRequest("n1", "n2", 3, 5, 1, False), 0.0)
    assert out.messages[0].granted is False  # type: ignore[union-attr]
    assert n.term == 3  # but the higher term is adopted
    # same last term, shorter log loses
    out = n.step(VoteRequest("n3", "n2", 4, 1, 2, False), 0.0)
    assert out.messages[0].granted is False  # type: ignore[union-attr]
    # same last term, same length wins
    out = n.step(VoteRequest("n3", "n2", 5, 2, 2, False), 0.0)
    assert out.messages[0].granted is True  # type: ignore[union-attr]


def test_split_vote_then_resolution() -> None:
    c = Cluster(4)
    c.timeout("n1")
    c.timeout("n2")
    # n3 only hears n1, n4 only hears n2: 2 votes each, short of a quorum of 3
    lost = {("n1", "n4"), ("n2", "n3")}
    c.deliver(lambda m: None if (m.src, m.dst) in lost else m)
    assert c.leaders() == []
    assert c["n1"].role is Role.CANDIDATE and c["n2"].role is Role.CANDIDATE
    assert c["n1"].term == c["n2"].term == 1
    # the next timer to fire wins in term 2
    c.elect("n2")
    assert c["n2"].term == 2
    assert c.leaders() == ["n2"]
    assert all(c[i].leader == "n2" for i in c.ids)
    assert c.monitor.ok


def test_candidate_steps_down_after_losing_majority_of_rejections() -> None:
    c = Cluster(3)
    c.elect("n1")
    c.propose("n1", "k")
    c.deliver()
    # n3 missed nothing but n2 is behind: cut n2 off and give n1/n3 an entry
    c.isolate("n2")
    c.propose("n1", "k2")
    c.deliver()
    c.heal()
    c.timeout("n2")  # n2's log is stale: both others reject
    c.deliver()
    assert c["n2"].role is not Role.LEADER
    assert c.monitor.ok


def test_step_down_on_higher_term() -> None:
    c = Cluster(3)
    c.elect("n1")
    assert c["n1"].term == 1
    out = c.handle("n1", c["n1"].step(AppendResponse("n2", "n1", 7, False, 0, 0), c.now))
    assert c["n1"].role is Role.FOLLOWER and c["n1"].term == 7
    assert c["n1"].leader is None and c["n1"].voted_for is None
    assert out.hard_state == HardState(7, None, 1)
    assert {"role": "follower", "term": 7} in [e.fields for e in out.events if e.kind == "role"]
    assert out.reset_election_timer


def test_append_with_higher_term_makes_candidate_follow() -> None:
    n = node("n2")
    n.election_timeout_fired(0.0)
    assert n.role is Role.CANDIDATE
    out = n.step(AppendRequest("n3", "n2", 2, 0, 0, (), 0), 0.0)
    assert n.role is Role.FOLLOWER and n.leader == "n3" and n.term == 2
    assert out.messages == [AppendResponse("n2", "n3", 2, True, 0, 0)]


def test_candidate_yields_to_leader_of_same_term() -> None:
    n = node("n2")
    n.election_timeout_fired(0.0)  # candidate in term 1
    n.step(AppendRequest("n3", "n2", 1, 0, 0, (), 0), 0.0)
    assert n.role is Role.FOLLOWER and n.leader == "n3" and n.term == 1


def test_stale_append_gets_our_term_so_old_leader_steps_down() -> None:
    n = node("n2", storage=Storage(HardState(5, None, 0), []))
    out = n.step(AppendRequest("n1", "n2", 3, 0, 0, (), 0), 0.0)
    assert out.messages == [AppendResponse("n2", "n1", 5, False, 0, 0)]
    assert n.term == 5


def test_stale_vote_request_is_ignored() -> None:
    n = node("n2", storage=Storage(HardState(5, None, 0), []))
    out = n.step(VoteRequest("n1", "n2", 3, 0, 0, False), 0.0)
    assert out.messages == [] and n.voted_for is None


def test_follower_knowing_a_leader_does_not_vote_in_that_term() -> None:
    n = node("n2")
    n.step(AppendRequest("n1", "n2", 1, 0, 0, (), 0), 0.0)
    out = n.step(VoteRequest("n3", "n2", 1, 0, 0, False), 0.0)
    assert out.messages[0].granted is False  # type: ignore[union-attr]


def test_propose_on_follower_raises_with_hint() -> None:
    c = Cluster(3)
    c.elect("n1")
    try:
        c["n2"].propose(__import__("etcdplay.sim.raft").sim.raft.Command("put", "k"), 0.0)
    except NotLeader as e:
        assert e.leader_hint == "n1"
    else:
        raise AssertionError("expected NotLeader")


def test_leader_ignores_election_timer() -> None:
    c = Cluster(3)
    c.elect("n1")
    out = c.timeout("n1")
    assert out.messages == [] and c["n1"].role is Role.LEADER and c["n1"].term == 1
