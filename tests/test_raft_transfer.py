"""Leadership transfer (the Raft thesis, section 3.10; etcd's
MsgTransferLeader / MsgTimeoutNow), as etcd does it on a graceful stop."""

from __future__ import annotations

import pytest
from raft_harness import Cluster

from etcdplay.sim.raft import (
    AppendRequest,
    Message,
    NotLeader,
    ProposalDropped,
    RaftNode,
    Role,
    TimeoutNow,
    VoteRequest,
)


def steady(n: int = 3, *, writes: int = 3) -> Cluster:
    """etcd's settings (PreVote, CheckQuorum), n1 leading, every log equal."""
    c = Cluster(n, pre_vote=True, check_quorum=True)
    c.elect("n1")
    for i in range(writes):
        c.propose("n1", f"k{i}")
        c.deliver()
    c.heartbeat("n1")  # spread the last commit index
    c.deliver()
    return c


def test_transfer_to_an_up_to_date_follower_sends_timeout_now_at_once() -> None:
    c = steady()
    last = c["n1"].last_index
    assert c["n1"].match_index("n2") == last
    out = c.transfer("n1", "n2")
    assert out.messages == [TimeoutNow("n1", "n2", 1)]
    assert c["n1"].transferee == "n2" and c["n1"].role is Role.LEADER
    c.deliver_one()  # n2 campaigns at once: no pre-vote, a new term
    assert c["n2"].role is Role.CANDIDATE and c["n2"].term == 2
    assert c.queue == [
        VoteRequest("n2", "n1", 2, last, 1, False, True),
        VoteRequest("n2", "n3", 2, last, 1, False, True),
    ]
    c.deliver()
    assert c.leaders() == ["n2"] and c["n2"].term == 2
    # The old leader and n3 were inside their leader lease, yet voted: the
    # transfer flag lets the vote through, as etcd's campaignTransfer does.
    assert c["n1"].role is Role.FOLLOWER and c["n1"].leader == "n2"
    assert c["n1"].transferee is None
    assert [e["role"] for e in c.events("n2", "role")][-2:] == ["candidate", "leader"]
    assert c.monitor.ok


def test_transfer_to_a_lagging_follower_catches_it_up_first() -> None:
    c = steady()
    c.isolate("n3")
    for i in range(3):  # n3 misses these
        c.propose("n1", f"late{i}")
        c.deliver()
    c.heal()
    last = c["n1"].last_index
    assert c["n1"].match_index("n3") < last
    out = c.transfer("n1", "n3")
    assert not any(isinstance(m, TimeoutNow) for m in out.messages)
    assert any(isinstance(m, AppendRequest) and m.dst == "n3" for m in out.messages)
    sent: list[Message] = []

    def watch(m: Message) -> Message:
        sent.append(m)
        return m

    c.deliver(watch)
    # TimeoutNow only went out once n3 matched the whole log
    kinds = [type(m).__name__ for m in sent if (m.src == "n1" and m.dst == "n3") or m.src == "n3"]
    assert "TimeoutNow" in kinds
    first_timeout = kinds.index("TimeoutNow")
    assert "AppendResponse" in kinds[:first_timeout]
    assert c.leaders() == ["n3"] and c["n3"].last_index >= last
    assert c["n3"].log[last - 1] == c["n1"].log[last - 1]  # nothing lost
    assert c.monitor.ok


def test_transfer_is_aborted_after_an_election_timeout_if_the_target_is_unreachable() -> None:
    c = steady()
    c.crash("n3")
    c.transfer("n1", "n3")  # the TimeoutNow is lost with n3
    c.deliver()
    assert c["n1"].role is Role.LEADER and c["n1"].transferee == "n3"
    with pytest.raises(ProposalDropped):
        c.propose("n1", "during")
    c.advance(0.5)
    c.heartbeat("n1")
    assert c["n1"].transferee == "n3"  # half an election timeout: still trying
    c.advance(0.5)
    c.heartbeat("n1")
    assert c["n1"].transferee is None  # one election timeout: given up
    c.deliver()
    c.propose("n1", "after")  # proposals are taken again
    c.deliver()
    assert c["n1"].role is Role.LEADER and c["n1"].term == 1
    assert c["n2"].log[-1].command is not None and c["n2"].log[-1].command.key == "after"
    assert c.monitor.ok


def test_proposals_during_a_transfer_are_dropped_and_the_log_stops_growing() -> None:
    c = steady()
    c.isolate("n3")
    c.propose("n1", "late")
    c.deliver()
    c.heal()
    c.transfer("n1", "n3")
    last = c["n1"].last_index
    with pytest.raises(ProposalDropped) as info:
        c.propose("n1", "dropped")
    # a NotLeader whose hint is the leader itself: there is nowhere to
    # forward it, so a shell drops it (etcd: ErrProposalDropped)
    assert isinstance(info.value, NotLeader) and info.value.leader_hint == "n1"
    assert info.value.transferee == "n3"
    assert c["n1"].last_index == last
    c.deliver()
    assert c.leaders() == ["n3"]
    assert all(e.command is None or e.command.key != "dropped" for e in c["n3"].log)
    with pytest.raises(NotLeader) as after:
        c.propose("n1", "to-the-new-leader")
    assert after.value.leader_hint == "n3"


def test_transfer_requests_that_make_no_sense() -> None:
    c = steady()
    with pytest.raises(NotLeader):
        c.transfer("n2", "n3")
    with pytest.raises(ValueError):
        c.transfer("n1", "n1")
    with pytest.raises(ValueError):
        c.transfer("n1", "n9")
    c.crash("n2")
    c.transfer("n1", "n2")
    out = c.transfer("n1", "n2")  # the same target again: nothing new
    assert out.messages == []
    out = c.transfer("n1", "n3")  # another target replaces it
    assert out.messages == [TimeoutNow("n1", "n3", 1)]
    c.deliver()
    assert c.leaders() == ["n3"]


def test_timeout_now_is_ignored_unless_following_in_that_term() -> None:
    c = steady()
    n2: RaftNode = c["n2"]
    out = n2.step(TimeoutNow("n1", "n2", 0), c.now)  # stale term: dropped
    assert n2.role is Role.FOLLOWER and out.messages == []
    c.timeout("n3")  # n3 pre-campaigns (and is refused: n1 holds the lease)
    assert c["n3"].role is Role.PRE_CANDIDATE
    out = c["n3"].step(TimeoutNow("n1", "n3", 1), c.now)
    assert c["n3"].role is Role.PRE_CANDIDATE and out.messages == []
    out = c["n1"].step(TimeoutNow("n2", "n1", 1), c.now)
    assert c["n1"].role is Role.LEADER and out.messages == []


def test_an_ordinary_vote_request_still_respects_the_lease() -> None:
    c = steady()
    req = VoteRequest("n3", "n2", 9, 99, 99, False)
    out = c.handle("n2", c["n2"].step(req, c.now))
    assert out.messages == [] and c["n2"].term == 1
    out = c.handle("n2", c["n2"].step(VoteRequest("n3", "n2", 9, 99, 99, False, True), c.now))
    assert c["n2"].term == 9 and c["n2"].voted_for == "n3"


def test_the_old_leader_serves_as_follower_after_the_transfer() -> None:
    c = steady(5)
    c.transfer("n1", "n4")
    c.deliver()
    assert c.leaders() == ["n4"]
    c.propose("n4", "new")
    c.deliver()
    c.heartbeat("n4")
    c.deliver()
    assert c["n1"].commit_index == c["n4"].commit_index == c["n4"].last_index
    assert c.monitor.ok
