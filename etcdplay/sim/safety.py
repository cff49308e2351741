"""SafetyMonitor: checks the five Raft safety properties (paper, Figure 3)
online, as the shell feeds it every Output of every node, and six step
invariants of the algorithm (Figure 2, §5.4.2, Ongaro's TLA+ spec) that
catch a broken core at the step that breaks the rule, before (or without)
a broken log or state machine showing it (docs/simulator.md, "What the
safety monitor checks").

Log comparisons use chain hashes: for each node, chain[i] hashes
(chain[i-1], term_i, command_i), so two logs agree on the whole prefix up to
i exactly when their chain hashes at i agree. That makes Log Matching and
Leader Completeness O(1) per entry/election instead of O(log length).
The chain hashes use Python's `hash()` and are only compared inside one
process; they never appear in violations or traces.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from etcdplay.sim.raft import AppendResponse, Entry, HardState, Output, RaftNode, Role

__all__ = ["CHECKS", "SafetyMonitor", "Violation"]

ELECTION_SAFETY = "election_safety"
LEADER_APPEND_ONLY = "leader_append_only"
LOG_MATCHING = "log_matching"
LEADER_COMPLETENESS = "leader_completeness"
STATE_MACHINE_SAFETY = "state_machine_safety"
# The step invariants (each names where it comes from in docs/simulator.md):
VOTE_QUORUM = "vote_quorum"  # a leader of term T was granted votes by a quorum in T
ONE_VOTE_PER_TERM = "one_vote_per_term"  # votedFor never changes in a term, restarts included
LEADER_COMMITS_OWN_TERM = "leader_commits_own_term"  # §5.4.2 / Figure 8
FOLLOWER_COMMIT_VERIFIED = "follower_commit_verified"  # min(leaderCommit, last new entry)
APPEND_FROM_TERM_LEADER = "append_from_term_leader"  # only the leader of my term is acknowledged
MATCH_INDEX_VALID = "match_index_valid"  # an acknowledged prefix is the leader's
CHECKS = (
    ELECTION_SAFETY,
    LEADER_APPEND_ONLY,
    LOG_MATCHING,
    LEADER_COMPLETENESS,
    STATE_MACHINE_SAFETY,
    VOTE_QUORUM,
    ONE_VOTE_PER_TERM,
    LEADER_COMMITS_OWN_TERM,
    FOLLOWER_COMMIT_VERIFIED,
    APPEND_FROM_TERM_LEADER,
    MATCH_INDEX_VALID,
)


@dataclass(frozen=True, slots=True)
class Violation:
    check: str
    time: float
    nodes: tuple[str, ...]
    detail: str


class SafetyMonitor:
    """Feed it with `observe_output(node_id, node, out, now)` for every
    Output of every node, in the order they happen. Restarted nodes (new
    RaftNode objects) are noticed and re-read from their log.

    The explicit hooks (`on_leader`, `on_log_change`, `on_commit`) are what
    observe_output uses; a shell that does not use RaftNode can call them.
    A shell that restarts nodes from what they persisted calls `on_restart`
    with that hard state (the persisted-vote half of one-vote-per-term).
    Only the first `keep` violations per check are stored; `counts` has all.
    """

    __slots__ = (
        "_applied",
        "_chains",
        "_commit_of",
        "_commit_terms",
        "_committed_chain",
        "_grants",
        "_leader_obj",
        "_leaders",
        "_nodes",
        "_seen",
        "_vote_of",
        "counts",
        "keep",
        "violations",
    )

    def __init__(self, keep: int = 20) -> None:
        self.keep = keep
        self.violations: list[Violation] = []
        self.counts: dict[str, int] = dict.fromkeys(CHECKS, 0)
        self._leaders: dict[int, str] = {}  # term -> leader
        self._chains: dict[str, list[int]] = {}  # node -> chain hash per index (0: base)
        self._seen: dict[tuple[int, int], tuple[int, str]] = {}  # (index, term) -> (chain, node)
        self._committed_chain: list[int] = [0]  # index -> chain hash of committed prefix
        # (term, highest committed index known in it), in the order commits were seen
        self._commit_terms: list[tuple[int, int]] = []
        self._applied: list[Entry | None] = [None]  # index -> first entry applied there
        self._nodes: dict[str, RaftNode] = {}
        self._leader_obj: dict[str, RaftNode] = {}
        # (term, candidate) -> the members that sent it a granted (real) vote
        self._grants: dict[tuple[int, str], set[str]] = {}
        # node -> (term, whom it voted for in that term): its latest vote
        self._vote_of: dict[str, tuple[int, str]] = {}
        self._commit_of: dict[str, int] = {}  # node -> commit index as last seen

    # --- results -----------------------------------------------------------------

    def _violate(self, check: str, now: float, nodes: Iterable[str], detail: str) -> None:
        self.counts[check] += 1
        if self.counts[check] <= self.keep:
            self.violations.append(Violation(check, now, tuple(nodes), detail))

    @property
    def ok(self) -> bool:
        return not any(self.counts.values())

    def results(self) -> list[tuple[str, bool, str]]:
        """(check, ok, detail) for each of the five properties and the step invariants."""
        rows = []
        for check in CHECKS:
            n = self.counts[check]
            if n == 0:
                rows.append((check, True, "no violations"))
            else:
                first = next(v for v in self.violations if v.check == check)
                rows.append(
                    (
                        check,
                        False,
                        f"{n} violation(s); first at t={first.time:.6f} "
                        f"on {','.join(first.nodes)}: {first.detail}",
                    )
                )
        return rows

    # --- the shell's entry point ----------------------------------------------------

    def observe_output(self, node_id: str, node: RaftNode, out: Output, now: float) -> None:
        known = self._nodes.get(node_id)
        if known is not node:
            # first sight of this node, or a restart: re-read its log
            self._nodes[node_id] = node
            self._leader_obj.pop(node_id, None)
            self._commit_of[node_id] = node.commit_index
            self.resync(node_id, node.log, now)
        else:
            appended = out.appended
            truncated = out.log_truncated_from
            if truncated is None and appended:
                chain = self._chains[node_id]
                if appended[0].index >= len(chain):
                    # the common case, entries added at the end: nothing was cut
                    self._extend(node_id, chain, appended, now)
                    appended = []
            if truncated is not None or appended:
                was_leader = self._leader_obj.get(node_id) is node
                stepped_down = bool(out.events) and any(
                    ev.kind == "role" and ev.fields.get("role") != Role.LEADER.value for ev in out.events
                )
                self.on_log_change(
                    node_id,
                    out.log_truncated_from,
                    out.appended,
                    now,
                    is_leader=was_leader and not stepped_down,
                )
            chain = self._chains[node_id]
            if len(chain) - 1 != len(node.log):
                self._violate(
                    LOG_MATCHING,
                    now,
                    [node_id],
                    f"Output does not describe the log change: monitor sees "
                    f"{len(chain) - 1} entries, node has {node.last_index}",
                )
                self.resync(node_id, node.log, now)
        for ev in out.events:
            kind = ev.kind
            if kind == "role":
                fields = ev.fields
                role = fields["role"]
                if role == Role.LEADER.value:
                    self._leader_obj[node_id] = node
                    self.on_leader(node_id, fields["term"], now)
                    self._check_vote_quorum(node_id, node, fields["term"], now)
                else:
                    self._leader_obj.pop(node_id, None)
                    if role == Role.CANDIDATE.value:
                        self.on_vote(node_id, fields["term"], node_id, now)  # its vote for itself
            elif kind == "vote":
                fields = ev.fields
                if fields["granted"] and not fields["pre_vote"]:
                    self.on_vote(node_id, fields["term"], fields["candidate"], now)
        hs = out.hard_state
        if hs is not None:
            self._check_commit(node_id, node, out, hs, now)
        if out.messages and node.role is not Role.LEADER:
            # a follower's (or candidate's) acknowledgements: rarely more than one
            for msg in out.messages:
                if type(msg) is AppendResponse and msg.success:
                    self._check_ack(node_id, msg, now)
        if out.committed:
            self.on_commit(node_id, out.committed, now, node.term)

    # --- hooks -----------------------------------------------------------------

    def on_leader(self, node_id: str, term: int, now: float) -> None:
        """Election Safety and Leader Completeness, at the moment of election."""
        other = self._leaders.get(term)
        if other is None:
            self._leaders[term] = node_id
        elif other != node_id:
            self._violate(ELECTION_SAFETY, now, [other, node_id], f"two leaders in term {term}")
        committed = self._committed_before(term)
        if committed:
            chain = self._chains.get(node_id, [0])
            if len(chain) <= committed or chain[committed] != self._committed_chain[committed]:
                self._violate(
                    LEADER_COMPLETENESS,
                    now,
                    [node_id],
                    f"leader of term {term} lacks committed entries up to index {committed} "
                    f"(first missing or different: {self._first_mismatch(chain)})",
                )

    # --- step invariants: elections ---------------------------------------------------

    def on_vote(self, node_id: str, term: int, candidate: str, now: float) -> None:
        """``node_id`` gave its vote in ``term`` to ``candidate`` (itself, when
        it campaigns). One-vote-per-term: Figure 2's votedFor, one candidate
        per term; the TLA+ spec's HandleRequestVoteRequest grants only when
        votedFor is Nil or the candidate already."""
        prior = self._vote_of.get(node_id)
        if prior is not None and prior[0] == term and prior[1] != candidate:
            self._violate(
                ONE_VOTE_PER_TERM,
                now,
                [node_id, prior[1], candidate],
                f"{node_id} voted for {prior[1]} and then for {candidate} in term {term}",
            )
        self._vote_of[node_id] = (term, candidate)
        if candidate != node_id:
            grants = self._grants.get((term, candidate))
            if grants is None:
                self._grants[term, candidate] = {node_id}
            else:
                grants.add(node_id)

    def on_restart(self, node_id: str, node: RaftNode, persisted: HardState, now: float) -> None:
        """``node`` was rebuilt from a disk holding ``persisted``: it must resume
        with that term and that vote (Figure 2: currentTerm and votedFor are
        persistent state), or it could vote again in a term it voted in.

        What it voted for and did not persist before the crash is forgotten
        legitimately (nobody heard of that vote: the reply goes out only
        after the write), so its durable vote replaces what was seen."""
        if node.term != persisted.term or node.voted_for != persisted.voted_for:
            self._violate(
                ONE_VOTE_PER_TERM,
                now,
                [node_id],
                f"{node_id} restarted in term {node.term} with its vote for {node.voted_for} "
                f"but had persisted term {persisted.term} and a vote for {persisted.voted_for}",
            )
        if persisted.voted_for is None:
            self._vote_of.pop(node_id, None)
        else:
            self._vote_of[node_id] = (persisted.term, persisted.voted_for)

    def _check_vote_quorum(self, node_id: str, node: RaftNode, term: int, now: float) -> None:
        """Vote quorum: a leader of ``term`` was granted votes in ``term`` by a
        quorum of distinct members, itself included (Figure 2, "votes from a
        majority"; the TLA+ spec's BecomeLeader: votesGranted is a quorum).
        Grants are counted when the voter sends them, so a grant lost on the
        way still counts: the check never blames a correct candidate."""
        size = len(node.peers) + 1
        voters = self._grants.get((term, node_id))
        have = 1 + (len(voters) if voters is not None else 0)
        if 2 * have <= size:
            self._violate(
                VOTE_QUORUM,
                now,
                [node_id, *sorted(voters or ())],
                f"leader of term {term} with votes from only {have} distinct member(s) of {size}",
            )

    # --- step invariants: commitment and acknowledgements --------------------------------

    def _check_commit(self, node_id: str, node: RaftNode, out: Output, hs: HardState, now: float) -> None:
        """The commit index moves only by the two rules of Figure 2."""
        before = self._commit_of.get(node_id, 0)
        commit = hs.commit
        self._commit_of[node_id] = commit
        if commit <= before:
            return
        log = node.log
        if node.role is Role.LEADER:
            # §5.4.2, Figure 8; TLA+ AdvanceCommitIndex: a leader commits by
            # counting replicas only an entry of its own term
            entry_term = log[commit - 1].term if commit <= len(log) else None
            if entry_term != node.term:
                self._violate(
                    LEADER_COMMITS_OWN_TERM,
                    now,
                    [node_id],
                    f"leader of term {node.term} advanced its commit index to {commit}, "
                    f"an entry of term {entry_term} (from {before})",
                )
            return
        # Figure 2, AppendEntries rule 5: commitIndex = min(leaderCommit,
        # index of last new entry); that index is what the step acknowledges
        verified = 0
        for msg in out.messages:
            if type(msg) is AppendResponse and msg.success and msg.match_index > verified:
                verified = msg.match_index
        if commit > verified:
            self._violate(
                FOLLOWER_COMMIT_VERIFIED,
                now,
                [node_id],
                f"follower in term {node.term} advanced its commit index from {before} to {commit}, "
                f"past the last entry the append verified ({verified or 'none acknowledged'})",
            )

    def _check_ack(self, node_id: str, msg: AppendResponse, now: float) -> None:
        """A successful AppendResponse ``node_id`` sends."""
        term = msg.term
        leader = self._leaders.get(term)
        if leader != msg.dst:
            # §5.1: a request with a stale term is rejected; TLA+: an append
            # is accepted only when m.mterm = currentTerm, and the only member
            # sending appends in a term is its leader
            self._violate(
                APPEND_FROM_TERM_LEADER,
                now,
                [node_id, msg.dst],
                f"{node_id} in term {term} acknowledged an append from {msg.dst}, "
                f"which does not lead term {term} (its leader: {leader or 'none'})",
            )
            return
        # The acknowledged index is the last the append verified against the
        # leader's log (Figure 2: prevLogIndex + entries; the TLA+ spec's
        # mmatchIndex): the two logs are equal up to it (Log Matching). The
        # leader's log only grows while it leads, so compare with it now.
        index = msg.match_index
        if index == 0:
            return
        lead = self._nodes.get(leader)
        if lead is None or lead.term != term or lead.role is not Role.LEADER:
            return  # no longer leads that term: its log may have been cut since
        mine = self._chains.get(node_id)
        theirs = self._chains.get(leader)
        if mine is None or theirs is None:
            return
        if index >= len(mine) or index >= len(theirs) or mine[index] != theirs[index]:
            self._violate(
                MATCH_INDEX_VALID,
                now,
                [node_id, leader],
                f"{node_id} acknowledged index {index} to the leader of term {term}, but its log "
                f"({len(mine) - 1} entries) and the leader's ({len(theirs) - 1}) differ up to there",
            )

    def _committed_before(self, term: int) -> int:
        """The highest index known committed in a term before ``term``.

        Leader Completeness (paper, Figure 3) asks a leader of ``term`` for
        the entries committed in *earlier* terms. A candidate whose vote
        replies were delayed can win a stale term after a leader of a later
        term has committed more: those entries need not be in its log (it can
        never commit anything: every member it talks to is past its term)."""
        for t, index in reversed(self._commit_terms):
            if t < term:
                return index  # indices grow along the list: the first found is the highest
        return 0

    def _first_mismatch(self, chain: list[int]) -> int:
        cc = self._committed_chain
        for i in range(1, len(cc)):
            if i >= len(chain) or chain[i] != cc[i]:
                return i
        return len(cc)

    def on_log_change(
        self,
        node_id: str,
        truncated_from: int | None,
        appended: Sequence[Entry],
        now: float,
        *,
        is_leader: bool,
    ) -> None:
        """Leader Append-Only and Log Matching, incrementally."""
        chain = self._chains.setdefault(node_id, [0])
        cut = truncated_from
        if appended and appended[0].index < len(chain) and (cut is None or appended[0].index < cut):
            cut = appended[0].index  # an overwrite without a reported truncation
        if cut is not None and cut < len(chain):
            if is_leader:
                self._violate(
                    LEADER_APPEND_ONLY,
                    now,
                    [node_id],
                    f"leader removed or overwrote its entries from index {cut}",
                )
            del chain[cut:]
        self._extend(node_id, chain, appended, now)

    def resync(self, node_id: str, log: Sequence[Entry], now: float) -> None:
        """Rebuild a node's chain from its whole log (first sight, restart)."""
        chain = [0]
        self._chains[node_id] = chain
        self._extend(node_id, chain, log, now)

    def _extend(self, node_id: str, chain: list[int], entries: Iterable[Entry], now: float) -> None:
        seen = self._seen
        for e in entries:
            if e.index != len(chain):
                self._violate(
                    LOG_MATCHING,
                    now,
                    [node_id],
                    f"entry index {e.index} appended at position {len(chain)}",
                )
                return
            h = hash((chain[-1], e.term, e.command))
            chain.append(h)
            key = (e.index, e.term)
            prior = seen.get(key)
            if prior is None:
                seen[key] = (h, node_id)
            elif prior[0] != h:
                self._violate(
                    LOG_MATCHING,
                    now,
                    [prior[1], node_id],
                    f"logs agree on (index {e.index}, term {e.term}) but differ in that entry or before it",
                )

    def on_commit(self, node_id: str, entries: Sequence[Entry], now: float, term: int = 0) -> None:
        """State Machine Safety: every node applies the same entry at an index.
        ``term``: the committing node's current term (0: before every term)."""
        applied = self._applied
        cc = self._committed_chain
        chain = self._chains.get(node_id)
        for e in entries:
            i = e.index
            if i < len(applied):
                first = applied[i]
                if first is not e and first != e:
                    self._violate(
                        STATE_MACHINE_SAFETY,
                        now,
                        [node_id],
                        f"applied {_describe(e)} at index {i}, another node applied {_describe(first)}",
                    )
            elif i == len(applied):
                applied.append(e)
                if chain is not None and i < len(chain) and i == len(cc):
                    cc.append(chain[i])
                    terms = self._commit_terms
                    if terms and terms[-1][0] == term:
                        terms[-1] = (term, i)
                    else:
                        terms.append((term, i))
            else:
                self._violate(
                    STATE_MACHINE_SAFETY,
                    now,
                    [node_id],
                    f"applied index {i} before index {len(applied)}",
                )


def _describe(e: Entry | None) -> str:
    if e is None:
        return "nothing"
    if e.command is None:
        return f"no-op of term {e.term}"
    c = e.command
    return f"{c.op} {c.key!r} of term {e.term}"
