"""The SafetyMonitor: silent on a correct core, loud on a broken one."""

from __future__ import annotations

from raft_harness import Cluster, figure8, log_of

from etcdplay.sim.raft import Command, Entry, RaftNode, VoteRequest
from etcdplay.sim.safety import CHECKS, SafetyMonitor


class DoubleVoter(RaftNode):
    """Broken: grants every real vote request, forgetting votedFor."""

    def _can_vote(self, m: VoteRequest) -> bool:
        return True


class CountingCommitter(RaftNode):
    """Broken: commits any index on a quorum, ignoring Figure 8's term check."""

    def _leader_maybe_commit(self) -> bool:
        matches = sorted(self._match.values(), reverse=True)
        n = min(self.last_index, matches[self._quorum - 2])
        if n > self._commit:
            self._set_commit(n)
            return True
        return False


class Overwriter(RaftNode):
    """Broken: a leader that replaces its last client entry instead of appending."""

    def _append_own(self, command: Command | None) -> None:
        if command is not None and self._log and self._log[-1].command is not None:
            self._truncate(len(self._log))
        super()._append_own(command)


def checks_failed(m: SafetyMonitor) -> set[str]:
    return {name for name, ok, _ in m.results() if not ok}


def test_results_name_all_five_properties() -> None:
    m = SafetyMonitor()
    assert [r[0] for r in m.results()] == list(CHECKS)
    assert all(ok for _, ok, _ in m.results())
    assert m.ok


def test_correct_core_passes_figure_8() -> None:
    c = Cluster(5)
    figure8(c)
    assert c.monitor.ok, c.monitor.results()


def test_catches_counting_commit_in_figure_8() -> None:
    c = Cluster(5, node_classes={"n1": CountingCommitter})
    figure8(c)
    assert c.kv["n1"].get("x") == "old"  # n1 committed and applied the term-2 entry
    failed = checks_failed(c.monitor)
    assert "leader_completeness" in failed  # n5 won without that committed entry
    assert "state_machine_safety" in failed  # and n4, n5 applied something else at index 2
    [v] = [v for v in c.monitor.violations if v.check == "leader_completeness"]
    assert v.nodes == ("n5",) and "term 5" in v.detail


def test_catches_two_votes_in_one_term() -> None:
    c = Cluster(3, node_classes={"n3": DoubleVoter})
    c.timeout("n1")
    c.timeout("n2")
    c.deliver()
    assert sorted(c.leaders()) == ["n1", "n2"]
    assert "election_safety" in checks_failed(c.monitor)
    v = next(v for v in c.monitor.violations if v.check == "election_safety")
    assert set(v.nodes) == {"n1", "n2"} and "term 1" in v.detail
    # the two leaders write different entries at (index 2, term 1)
    c.propose("n1", "a", "from-n1")
    c.propose("n2", "a", "from-n2")
    c.deliver()
    assert "log_matching" in checks_failed(c.monitor)


def test_catches_a_leader_overwriting_its_log() -> None:
    c = Cluster(3, node_classes={"n1": Overwriter})
    c.elect("n1")
    c.isolate("n1")
    c.propose("n1", "a", "1")
    c.propose("n1", "a", "2")
    # the overwrite also leaves two different entries at (index 2, term 1)
    assert checks_failed(c.monitor) == {"leader_append_only", "log_matching"}
    v = next(v for v in c.monitor.violations if v.check == "leader_append_only")
    assert v.nodes == ("n1",) and "index 2" in v.detail


def test_followers_truncating_is_not_a_leader_append_only_violation() -> None:
    c = Cluster(3)
    c.load("n1", 3, log_of(1, 1, 3))
    c.load("n2", 3, log_of(1, 1, 3))
    c.load("n3", 3, log_of(1, 2, 2, 2))
    c.timeout("n3")  # n3 campaigns and loses...
    c.deliver()
    c.timeout("n1")  # ...n1 wins and truncates n3
    c.deliver()
    assert any(o.log_truncated_from for o in c.outputs["n3"])
    assert c.monitor.ok, c.monitor.results()


def test_catches_an_unreported_log_change() -> None:
    c = Cluster(3, check_persistence=False)
    c.elect("n1")
    n2 = c["n2"]
    n2._log.append(Entry(1, 2, None))  # behind the Output's back
    c.heartbeat("n1")
    c.deliver()
    assert "log_matching" in checks_failed(c.monitor)


def test_hooks_log_matching_and_state_machine_safety() -> None:
    m = SafetyMonitor()
    a = [Entry(1, 1, Command("put", "k", "a")), Entry(1, 2, None)]
    b = [Entry(1, 1, Command("put", "k", "b")), Entry(1, 2, None)]
    m.on_log_change("x", None, a, 1.0, is_leader=False)
    m.on_log_change("y", None, b, 2.0, is_leader=False)
    assert checks_failed(m) == {"log_matching"}
    # entry 2 is identical, but the prefix before it differs: still a violation
    assert m.counts["log_matching"] == 2
    m.on_commit("x", a, 3.0)
    m.on_commit("y", b, 4.0)
    assert checks_failed(m) == {"log_matching", "state_machine_safety"}
    v = next(v for v in m.violations if v.check == "state_machine_safety")
    assert v.time == 4.0 and v.nodes == ("y",) and "index 1" in v.detail
    row = next(r for r in m.results() if r[0] == "state_machine_safety")
    assert row[1] is False and "1 violation" in row[2]


def test_restart_reapplying_its_log_is_fine() -> None:
    c = Cluster(3)
    c.elect("n1")
    c.propose("n1", "a")
    c.deliver()
    c.crash("n2")
    out = c.restart("n2")
    assert [e.index for e in out.committed] == [1, 2]  # re-applied from the log
    assert c.kv["n2"].get("a") == "v"
    assert c.monitor.ok


def test_a_stale_term_leader_need_not_hold_entries_committed_in_a_later_term() -> None:
    # A candidate of term 3 whose vote replies were delayed wins after the
    # leader of term 4 committed more (found by the random-fault property test):
    # Leader Completeness asks only for entries committed in earlier terms.
    m = SafetyMonitor()
    old = [Entry(1, 1, Command("put", "k", "a"))]
    new = [*old, Entry(4, 2, None), Entry(4, 3, Command("put", "k", "b"))]
    m.on_log_change("n1", None, new, 1.0, is_leader=False)
    m.on_log_change("n2", None, old, 1.0, is_leader=False)
    m.on_commit("n1", new[:1], 1.1, term=1)
    m.on_commit("n1", new[1:], 1.2, term=4)
    m.on_leader("n2", 3, 1.3)
    assert m.counts["leader_completeness"] == 0
    # ... but a leader of term 5 lacking them breaks it
    m.on_leader("n2", 5, 1.4)
    assert m.counts["leader_completeness"] == 1
    # and a leader of term 3 lacking what term 1 committed breaks it too
    m.on_log_change("n3", None, [Entry(2, 1, None)], 1.5, is_leader=False)
    m.on_leader("n3", 3, 1.6)
    assert m.counts["leader_completeness"] == 2
