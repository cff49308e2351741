"""A sans-I/O Raft state machine.

`RaftNode` consumes inputs (a message, a timer firing, a client proposal) and
returns an `Output` describing everything that input produced: messages to
send, hard state and log changes to persist, newly committed entries to apply
and events for the trace. It never reads a clock, draws a random number or
does I/O: time comes in as `now`, randomness and timers belong to the shell.

The algorithm is Figure 2 of the Raft paper (Ongaro & Ousterhout, 2014) plus
the extensions etcd-io/raft ships and etcd enables: PreVote, CheckQuorum with
the leader lease, a no-op entry at the start of each leader term, rejection
hints for fast nextIndex back-off, probe/replicate flow control, and
leadership transfer (the thesis' section 3.10: TimeoutNow). The shape
follows etcd-io/raft's `Step` (one dispatch on message term, then small
per-role handlers) and its `Ready` (one struct of side effects per input).
See docs/raft-core.md for the mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from mypy_extensions import mypyc_attr

__all__ = [
    "MAX_ENTRIES_PER_APPEND",
    "AppendRequest",
    "AppendResponse",
    "Command",
    "Entry",
    "HardState",
    "Message",
    "NotLeader",
    "Output",
    "ProposalDropped",
    "RaftEvent",
    "RaftNode",
    "Record",
    "Role",
    "Storage",
    "TimeoutNow",
    "VoteRequest",
    "VoteResponse",
]

# An AppendRequest carries at most this many entries; a laggard is caught up
# in batches, one batch per response (self-clocking, like etcd's inflight cap).
MAX_ENTRIES_PER_APPEND = 64


class Role(StrEnum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


class Record:
    """Base of the classes below with hand-written ``__init__``s: copy and
    pickle rebuild them by calling ``__init__`` with the fields in order.
    (mypyc's own ``serializable`` option skips a hand-written ``__init__``.)"""

    __slots__ = ()

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), tuple([getattr(self, f.name) for f in fields(self)]))  # type: ignore[arg-type]


# The classes made per message or per entry have hand-written __init__s:
# compiled with mypyc, a dataclass still builds its objects through the
# __init__ that the dataclasses module generates in Python (~10x a native
# one). They are immutable by convention; unsafe_hash keeps them hashable
# (frozen=True would cost an object.__setattr__ per field). Record makes
# copy and pickle work on them, compiled too.
@dataclass(slots=True, init=False)
class Command(Record):
    op: str  # "put" | "delete" | "txn"
    key: str
    value: str
    request_id: int  # lets the shell match a commit to the client request
    # txn (a compare-and-put on one key): put ``value`` only when the key
    # holds ``expect`` (None: when the key is absent)
    expect: str | None

    def __init__(
        self, op: str, key: str, value: str = "", request_id: int = 0, expect: str | None = None
    ) -> None:
        self.op = op
        self.key = key
        self.value = value
        self.request_id = request_id
        self.expect = expect

    # Hand-written too: the safety monitor hashes every command it sees.
    def __hash__(self) -> int:
        return hash((self.op, self.key, self.value, self.request_id, self.expect))


@dataclass(slots=True, unsafe_hash=True, init=False)
class Entry(Record):
    term: int
    index: int
    command: Command | None  # None: the no-op a leader appends at the start of its term

    def __init__(self, term: int, index: int, command: Command | None) -> None:
        self.term = term
        self.index = index
        self.command = command


# --- messages -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VoteRequest:
    src: str
    dst: str
    term: int  # for a pre-vote: the term the sender would campaign in (its term + 1)
    last_index: int
    last_term: int
    pre_vote: bool
    # Sent by a leadership transferee (etcd's campaignTransfer): voters answer
    # even inside their leader lease, because the leader itself asked for it.
    transfer: bool = False


@dataclass(frozen=True, slots=True)
class VoteResponse:
    src: str
    dst: str
    term: int  # granted: the requested term; rejected: the voter's own term
    granted: bool
    pre_vote: bool


# The two append messages are most of the traffic (a write costs ~16 of
# them): hand-written __init__s, as for Entry.
@dataclass(slots=True, unsafe_hash=True, init=False)
class AppendRequest(Record):
    src: str
    dst: str
    term: int
    prev_index: int
    prev_term: int
    entries: tuple[Entry, ...]  # empty: heartbeat
    commit: int

    def __init__(
        self,
        src: str,
        dst: str,
        term: int,
        prev_index: int,
        prev_term: int,
        entries: tuple[Entry, ...],
        commit: int,
    ) -> None:
        self.src = src
        self.dst = dst
        self.term = term
        self.prev_index = prev_index
        self.prev_term = prev_term
        self.entries = entries
        self.commit = commit


@dataclass(slots=True, unsafe_hash=True, init=False)
class AppendResponse(Record):
    src: str
    dst: str
    term: int
    success: bool
    # success: the index of the last entry the follower now matches.
    # rejection: the rejected request's prev_index (etcd's m.Index), so the
    # leader can tell a fresh rejection from a stale one.
    match_index: int
    # rejection only: the follower's guess of the highest index that can match
    # (etcd's RejectHint) and the follower's term there (etcd's LogTerm); the
    # leader skips back past its own entries with a larger term than that.
    hint_index: int
    hint_term: int

    def __init__(
        self,
        src: str,
        dst: str,
        term: int,
        success: bool,
        match_index: int,
        hint_index: int,
        hint_term: int = 0,
    ) -> None:
        self.src = src
        self.dst = dst
        self.term = term
        self.success = success
        self.match_index = match_index
        self.hint_index = hint_index
        self.hint_term = hint_term


@dataclass(frozen=True, slots=True)
class TimeoutNow:
    """Leader to its transferee (etcd's MsgTimeoutNow): campaign at once, in
    a new term, without a pre-vote and past the voters' leader lease."""

    src: str
    dst: str
    term: int


Message = VoteRequest | VoteResponse | AppendRequest | AppendResponse | TimeoutNow


# --- persistence and side effects -----------------------------------------------


@dataclass(slots=True, init=False)
class HardState(Record):
    term: int
    voted_for: str | None
    commit: int  # etcd persists commit too, so a restarted node can re-apply

    def __init__(self, term: int, voted_for: str | None, commit: int) -> None:
        self.term = term
        self.voted_for = voted_for
        self.commit = commit


@dataclass(slots=True)
class Storage:
    """What survives a crash. log[0] is index 1."""

    hard_state: HardState
    log: list[Entry]


@dataclass(slots=True, init=False)
class RaftEvent(Record):
    """kinds: "role" {role, term}; "vote" {candidate, term, granted, pre_vote};
    "leader" {leader, term}; "commit" {commit}."""

    kind: str
    fields: dict[str, Any]

    def __init__(self, kind: str, fields: dict[str, Any]) -> None:
        self.kind = kind
        self.fields = fields


@dataclass(slots=True, init=False)
class Output(Record):
    """Everything one input produced (etcd's Ready).

    The shell must persist `hard_state`, then `log_truncated_from`, then
    `appended`, before it sends `messages`; `committed` may be applied at
    once (they are durable on a quorum already).
    """

    messages: list[Message]
    hard_state: HardState | None
    log_truncated_from: int | None
    appended: list[Entry]
    committed: list[Entry]
    reset_election_timer: bool
    events: list[RaftEvent]
    # The reset was for a leader's append, a granted vote or our own
    # campaign: the reasons the Raft paper's LogCabin resets for. A reset only
    # for stepping down to a higher term (etcd's reset(term)) leaves it False.
    contact_reset: bool

    # Hand-written: one is made per input, and the generated __init__ with
    # default factories costs ~1.7x this one.
    def __init__(
        self,
        messages: list[Message] | None = None,
        hard_state: HardState | None = None,
        log_truncated_from: int | None = None,
        appended: list[Entry] | None = None,
        committed: list[Entry] | None = None,
        reset_election_timer: bool = False,
        events: list[RaftEvent] | None = None,
        contact_reset: bool = False,
    ) -> None:
        self.messages = [] if messages is None else messages
        self.hard_state = hard_state
        self.log_truncated_from = log_truncated_from
        self.appended = [] if appended is None else appended
        self.committed = [] if committed is None else committed
        self.reset_election_timer = reset_election_timer
        self.events = [] if events is None else events
        self.contact_reset = contact_reset

    def must_persist(self) -> bool:
        return self.hard_state is not None or self.log_truncated_from is not None or bool(self.appended)


class NotLeader(Exception):
    def __init__(self, leader_hint: str | None) -> None:
        super().__init__(f"not the leader (leader hint: {leader_hint})")
        self.leader_hint = leader_hint


class ProposalDropped(NotLeader):
    """The leader is handing over leadership and takes no proposals (etcd's
    ErrProposalDropped). The hint is the leader itself: there is nowhere to
    forward to yet, so the proposal is lost, as in etcd."""

    def __init__(self, leader: str, transferee: str) -> None:
        Exception.__init__(self, f"proposal dropped: leadership transfer to {transferee} in progress")
        self.leader_hint = leader
        self.transferee = transferee


# --- the node --------------------------------------------------------------------


# The safety tests subclass the node in Python to break it on purpose (a
# double vote, commit by counting); compiled, that needs this permission.
@mypyc_attr(allow_interpreted_subclasses=True)
class RaftNode:
    __slots__ = (
        "_active",
        "_applied",
        "_check_quorum",
        "_commit",
        "_election_timeout",
        "_id",
        "_last_leader_contact",
        "_leader",
        "_log",
        "_match",
        "_next",
        "_now",
        "_out",
        "_paused",
        "_peers",
        "_pre_vote",
        "_probing",
        "_quorum",
        "_quorum_window_start",
        "_role",
        "_saved",
        "_term",
        "_transfer_started",
        "_transferee",
        "_voted_for",
        "_votes",
        "lease_clock",
    )

    def __init__(
        self,
        node_id: str,
        peers: Sequence[str],
        *,
        pre_vote: bool,
        check_quorum: bool,
        election_timeout: float,
        storage: Storage | None = None,
        now: float = 0.0,
    ) -> None:
        self._id = node_id
        # `peers` may or may not include node_id; order is kept for determinism.
        self._peers: tuple[str, ...] = tuple(p for p in dict.fromkeys(peers) if p != node_id)
        self._quorum = (len(self._peers) + 1) // 2 + 1
        self._pre_vote = pre_vote
        self._check_quorum = check_quorum
        self._election_timeout = election_timeout

        if storage is None:
            self._term = 0
            self._voted_for: str | None = None
            self._log: list[Entry] = []
            self._commit = 0
        else:  # restart after a crash: only the hard state and the log survive
            hs = storage.hard_state
            self._term = hs.term
            self._voted_for = hs.voted_for
            self._log = list(storage.log)
            self._commit = min(hs.commit, len(self._log))
        # Committed entries are handed out from _applied + 1; after a restart
        # that is 1, so the shell can rebuild a volatile state machine (a KV
        # that remembers its applied index skips what it already has).
        self._applied = 0

        self._role = Role.FOLLOWER
        self._leader: str | None = None
        self._last_leader_contact = float("-inf")
        self._votes: dict[str, bool] = {}
        self._next: dict[str, int] = {}
        self._match: dict[str, int] = {}
        self._probing: dict[str, bool] = {}
        self._paused: dict[str, bool] = {}
        self._active: dict[str, bool] = {}
        self._quorum_window_start = now
        # Leadership transfer in progress (etcd's leadTransferee), and since when.
        self._transferee: str | None = None
        self._transfer_started = now
        self._now = now
        self._out = Output()
        self._saved = (self._term, self._voted_for, self._commit)
        # The shell's answer to "is my leader lease still on?" when it counts
        # the lease in ticks as etcd does (electionElapsed < electionTimeout);
        # None (or a None answer): measure it in time since leader contact.
        self.lease_clock: Callable[[], bool | None] | None = None

    # --- read-only view --------------------------------------------------------

    @property
    def id(self) -> str:
        return self._id

    @property
    def peers(self) -> tuple[str, ...]:
        return self._peers

    @property
    def role(self) -> Role:
        return self._role

    @property
    def term(self) -> int:
        return self._term

    @property
    def leader(self) -> str | None:
        return self._leader

    @property
    def voted_for(self) -> str | None:
        return self._voted_for

    @property
    def commit_index(self) -> int:
        return self._commit

    @property
    def last_index(self) -> int:
        return len(self._log)

    @property
    def last_term(self) -> int:
        return self._log[-1].term if self._log else 0

    @property
    def log(self) -> Sequence[Entry]:
        """The live log (index i at position i - 1). Do not mutate."""
        return self._log

    @property
    def pre_vote(self) -> bool:
        return self._pre_vote

    @property
    def check_quorum(self) -> bool:
        return self._check_quorum

    @property
    def election_timeout(self) -> float:
        return self._election_timeout

    @property
    def transferee(self) -> str | None:
        """Leader: the peer leadership is being handed to (None: no transfer)."""
        return self._transferee

    def match_index(self, peer: str) -> int:
        """Leader's matchIndex for a peer (0 when not leader)."""
        return self._match.get(peer, 0)

    def next_index(self, peer: str) -> int:
        """Leader's nextIndex for a peer (0 when not leader)."""
        return self._next.get(peer, 0)

    def term_at(self, index: int) -> int | None:
        """Term of the entry at index; 0 for index 0; None past the end."""
        if index == 0:
            return 0
        if 0 < index <= len(self._log):
            return self._log[index - 1].term
        return None

    def storage(self) -> Storage:
        """A copy of what a node that persisted every Output holds."""
        return Storage(HardState(self._term, self._voted_for, self._commit), list(self._log))

    # --- inputs ------------------------------------------------------------------

    def step(self, msg: Message, now: float) -> Output:
        # _begin and _finish, inlined: this runs once per delivered message.
        self._now = now
        out = self._out = Output()
        term, voted_for, commit = self._term, self._voted_for, self._commit
        # _step's same-term append dispatch, inlined
        if msg.term == term and type(msg) is AppendRequest:
            self._on_append(msg, now)
        elif msg.term == term and type(msg) is AppendResponse:
            if self._role is Role.LEADER:
                self._active[msg.src] = True
                self._on_append_response(msg)
        else:
            self._step(msg, now)
        if self._term != term or self._voted_for != voted_for or self._commit != commit:
            out.hard_state = HardState(self._term, self._voted_for, self._commit)
        commit = self._commit
        if commit > self._applied:
            log = self._log
            if commit > len(log):
                commit = len(log)
            if commit > self._applied:
                out.committed = log[self._applied : commit]
                self._applied = commit
        return out

    def election_timeout_fired(self, now: float) -> Output:
        """The randomized election timer fired: campaign unless leader."""
        self._begin(now)
        if self._role is not Role.LEADER:
            self._campaign(pre=self._pre_vote)
        return self._finish()

    def heartbeat_fired(self, now: float) -> Output:
        """Leader: send every peer an AppendRequest (heartbeat, or entries to a laggard)."""
        self._begin(now)
        if self._role is Role.LEADER:
            if self._transferee is not None and now - self._transfer_started >= self._election_timeout:
                # etcd gives a transfer one election timeout, then takes
                # proposals again (the transferee is down or cut off)
                self._transferee = None
            for p in self._peers:
                self._paused[p] = False  # a probe may have been lost: probe again
                self._send_append(p, allow_empty=True)
        return self._finish()

    def check_quorum_fired(self, now: float) -> Output:
        """Leader with check_quorum: step down unless a quorum was heard from.

        The window is the time since the previous check (or since election).
        A window shorter than half an election timeout is too short to judge
        (the shell's periodic timer may fire just after an election); it is
        extended to the next call, as etcd's leader restarts electionElapsed
        on becoming leader.
        """
        self._begin(now)
        if (
            self._role is Role.LEADER
            and self._check_quorum
            and now - self._quorum_window_start >= 0.5 * self._election_timeout
        ):
            active = 1 + sum(1 for p in self._peers if self._active[p])
            for p in self._peers:
                self._active[p] = False
            self._quorum_window_start = now
            if active < self._quorum:
                self._become_follower(self._term, None)
        return self._finish()

    def propose(self, command: Command, now: float) -> Output:
        if self._role is not Role.LEADER:
            raise NotLeader(self._leader)
        if self._transferee is not None:
            # etcd drops proposals while it hands over, so the log stops
            # growing and the transferee can catch up
            raise ProposalDropped(self._id, self._transferee)
        self._begin(now)
        self._append_own(command)
        self._leader_maybe_commit()
        for p in self._peers:
            if not self._probing[p]:
                self._send_append(p, allow_empty=False)
        return self._finish()

    def transfer_leadership(self, target: str, now: float) -> Output:
        """Leader: hand leadership to ``target`` (etcd's MsgTransferLeader;
        the thesis, section 3.10).

        Proposals are refused (``ProposalDropped``) while the transfer runs.
        Once ``target`` holds our whole log (at once, or after the appends
        sent to catch it up) it gets a ``TimeoutNow`` and campaigns in a new
        term; its votes make us a follower. The transfer is abandoned if we
        stop leading, or at the first heartbeat an election timeout after it
        began. Asking again for the same target changes nothing; another
        target replaces it.
        """
        if self._role is not Role.LEADER:
            raise NotLeader(self._leader)
        if target not in self._next:
            raise ValueError(f"cannot transfer leadership to {target!r}: not a peer of {self._id}")
        self._begin(now)
        if target != self._transferee:
            self._transferee = target
            self._transfer_started = now
            if self._match[target] == len(self._log):
                self._send_timeout_now(target)
            else:
                # catch it up first (an empty append still finds where its
                # log ends, as etcd's sendAppend does); the answer that brings
                # its match to our last index sends the TimeoutNow
                self._send_append(target, allow_empty=True)
        return self._finish()

    def flush(self, now: float) -> Output:
        """An Output for no input: hands out committed entries not yet returned.

        Call once after a restart to get log[1..commit] for re-applying.
        """
        self._begin(now)
        return self._finish()

    # --- output bookkeeping ------------------------------------------------------

    def _begin(self, now: float) -> None:
        self._now = now
        self._out = Output()
        self._saved = (self._term, self._voted_for, self._commit)

    def _finish(self) -> Output:
        out = self._out
        if (self._term, self._voted_for, self._commit) != self._saved:
            out.hard_state = HardState(self._term, self._voted_for, self._commit)
        commit = self._commit
        if commit > self._applied:
            log = self._log
            if commit > len(log):
                commit = len(log)
            if commit > self._applied:
                out.committed = log[self._applied : commit]
                self._applied = commit
        return out

    def _event(self, kind: str, **fields: Any) -> None:
        self._out.events.append(RaftEvent(kind, fields))

    def _set_leader(self, leader: str | None) -> None:
        if leader != self._leader:
            self._leader = leader
            self._event("leader", leader=leader, term=self._term)

    def _set_commit(self, commit: int) -> None:
        if commit > self._commit:
            self._commit = commit
            self._out.events.append(RaftEvent("commit", {"commit": commit}))

    def _truncate(self, from_index: int) -> None:
        del self._log[from_index - 1 :]
        out = self._out
        if out.log_truncated_from is None or from_index < out.log_truncated_from:
            out.log_truncated_from = from_index
        if out.appended and out.appended[-1].index >= from_index:
            out.appended = [e for e in out.appended if e.index < from_index]

    # --- role transitions --------------------------------------------------------

    def _become_follower(self, term: int, leader: str | None) -> None:
        changed = term != self._term or self._role is not Role.FOLLOWER
        if term != self._term:
            self._term = term
            self._voted_for = None
        self._role = Role.FOLLOWER
        self._votes = {}
        self._transferee = None
        self._clear_progress()
        if changed:
            self._event("role", role=Role.FOLLOWER.value, term=term)
        self._set_leader(leader)
        self._out.reset_election_timer = True

    def _clear_progress(self) -> None:
        if self._next:
            self._next = {}
            self._match = {}
            self._probing = {}
            self._paused = {}
            self._active = {}

    def _campaign(self, *, pre: bool, transfer: bool = False) -> None:
        self._clear_progress()
        if pre:
            self._role = Role.PRE_CANDIDATE
            vote_term = self._term + 1  # asked for, not taken: our term is unchanged
            self._event("role", role=Role.PRE_CANDIDATE.value, term=self._term)
        else:
            self._term += 1
            self._voted_for = self._id
            self._role = Role.CANDIDATE
            vote_term = self._term
            self._event("role", role=Role.CANDIDATE.value, term=self._term)
        self._set_leader(None)
        self._out.reset_election_timer = True
        self._out.contact_reset = True
        self._votes = {self._id: True}
        if self._quorum == 1:
            self._won_poll()
            return
        last_index, last_term = self.last_index, self.last_term
        send = self._out.messages.append
        for p in self._peers:
            send(VoteRequest(self._id, p, vote_term, last_index, last_term, pre, transfer))

    def _won_poll(self) -> None:
        if self._role is Role.PRE_CANDIDATE:
            self._campaign(pre=False)
        else:
            self._become_leader()

    def _become_leader(self) -> None:
        self._role = Role.LEADER
        self._votes = {}
        self._event("role", role=Role.LEADER.value, term=self._term)
        self._set_leader(self._id)
        nxt = len(self._log) + 1
        self._next = dict.fromkeys(self._peers, nxt)
        self._match = dict.fromkeys(self._peers, 0)
        self._probing = dict.fromkeys(self._peers, True)
        self._paused = dict.fromkeys(self._peers, False)
        self._active = dict.fromkeys(self._peers, False)
        self._quorum_window_start = self._now
        # The no-op lets this leader commit entries of earlier terms (Figure 8):
        # those only commit indirectly, under an entry of the current term.
        self._append_own(None)
        self._leader_maybe_commit()
        for p in self._peers:
            self._send_append(p, allow_empty=True)

    # --- Step: term dispatch, then per-message handlers --------------------------

    def _in_lease(self, now: float) -> bool:
        """etcd's lease: with CheckQuorum, a node that heard from a live leader
        within an election timeout ignores vote requests from higher terms, so
        a partitioned node rejoining cannot depose a healthy leader."""
        if not self._check_quorum or self._leader is None:
            return False
        if self._leader == self._id:
            return True
        clock = self.lease_clock
        if clock is not None:
            ticks = clock()
            if ticks is not None:
                return ticks
        return now - self._last_leader_contact < self._election_timeout

    def _step(self, m: Message, now: float) -> None:
        if m.term == self._term:
            # The common case first: dispatch on the exact type.
            if type(m) is AppendRequest:
                self._on_append(m, now)
                return
            if type(m) is AppendResponse:
                if self._role is Role.LEADER:
                    self._active[m.src] = True
                    self._on_append_response(m)
                return
        elif m.term > self._term:
            if isinstance(m, VoteRequest):
                if self._in_lease(now) and not m.transfer:
                    return  # ignored: no term bump, no answer (a transfer's vote passes)
                if not m.pre_vote:
                    self._become_follower(m.term, None)
                # a pre-vote never changes our term
            elif isinstance(m, VoteResponse) and m.pre_vote and m.granted:
                # granted pre-votes carry the term we asked for; we bump our
                # term only when the pre-election is won
                pass
            elif isinstance(m, AppendRequest):
                self._become_follower(m.term, m.src)
            else:
                self._become_follower(m.term, None)
        elif m.term < self._term:
            if isinstance(m, AppendRequest):
                # our higher term makes a stale leader step down
                self._out.messages.append(AppendResponse(self._id, m.src, self._term, False, m.prev_index, 0))
            elif isinstance(m, VoteRequest) and m.pre_vote:
                self._out.messages.append(VoteResponse(self._id, m.src, self._term, False, True))
            # other stale messages are dropped, as etcd does
            return

        if isinstance(m, AppendRequest):
            self._on_append(m, now)
        elif isinstance(m, AppendResponse):
            if self._role is Role.LEADER:
                self._active[m.src] = True
                self._on_append_response(m)
        elif isinstance(m, VoteRequest):
            if self._role is Role.LEADER and m.src in self._active:
                self._active[m.src] = True
            self._on_vote_request(m)
        elif isinstance(m, VoteResponse):
            if self._role is Role.LEADER and m.src in self._active:
                self._active[m.src] = True
            self._on_vote_response(m)
        # TimeoutNow: only a follower obeys (etcd: candidates and leaders
        # ignore it). No pre-vote: the leader asked, so there is no partition
        # to recover from and no reason to spend the round trip.
        elif isinstance(m, TimeoutNow) and self._role is Role.FOLLOWER:
            self._campaign(pre=False, transfer=True)

    # --- votes -------------------------------------------------------------------

    def _log_up_to_date(self, last_index: int, last_term: int) -> bool:
        """§5.4.1: the candidate's log is at least as up to date as ours."""
        my_term = self.last_term
        return last_term > my_term or (last_term == my_term and last_index >= len(self._log))

    def _can_vote(self, m: VoteRequest) -> bool:
        """One vote per term (the paper's votedFor), etcd-style: also refuse
        while we know a leader for this term; pre-votes for a future term are
        free because they change nothing."""
        return (
            self._voted_for == m.src
            or (self._voted_for is None and self._leader is None)
            or (m.pre_vote and m.term > self._term)
        )

    def _on_vote_request(self, m: VoteRequest) -> None:
        granted = self._can_vote(m) and self._log_up_to_date(m.last_index, m.last_term)
        if granted:
            self._out.messages.append(VoteResponse(self._id, m.src, m.term, True, m.pre_vote))
            if not m.pre_vote:
                # persisted via Output.hard_state before the response is sent
                self._voted_for = m.src
                self._out.reset_election_timer = True
                self._out.contact_reset = True
        else:
            self._out.messages.append(VoteResponse(self._id, m.src, self._term, False, m.pre_vote))
        self._event("vote", candidate=m.src, term=m.term, granted=granted, pre_vote=m.pre_vote)

    def _on_vote_response(self, m: VoteResponse) -> None:
        if self._role is Role.PRE_CANDIDATE:
            if not m.pre_vote or (m.granted and m.term != self._term + 1):
                return
        elif self._role is Role.CANDIDATE:
            if m.pre_vote:
                return
        else:
            return
        self._votes[m.src] = m.granted
        granted = sum(1 for v in self._votes.values() if v)
        if granted >= self._quorum:
            self._won_poll()
        elif len(self._votes) - granted >= self._quorum:
            self._become_follower(self._term, None)

    # --- replication: follower side -------------------------------------------------

    def _on_append(self, m: AppendRequest, now: float) -> None:
        out = self._out
        if self._role is not Role.FOLLOWER:
            # a leader exists in our term: candidates and pre-candidates yield
            if self._role is Role.LEADER:
                return  # cannot happen while Election Safety holds
            self._become_follower(self._term, m.src)
        else:
            if m.src != self._leader:
                self._set_leader(m.src)
            out.reset_election_timer = True
        out.contact_reset = True
        self._last_leader_contact = now

        log = self._log
        last = len(log)
        prev = m.prev_index
        # self.term_at(prev), inlined
        if prev == 0:
            prev_term: int | None = 0
        elif 0 < prev <= last:
            prev_term = log[prev - 1].term
        else:
            prev_term = None
        if prev_term != m.prev_term:
            hint = self._find_conflict_by_term(prev, m.prev_term, self._commit)
            hint_term = log[hint - 1].term if hint > 0 else 0
            out.messages.append(AppendResponse(self._id, m.src, self._term, False, prev, hint, hint_term))
            return

        # Skip entries we already hold; truncate only at a real conflict, so a
        # stale or duplicated request never drops entries.
        entries = m.entries
        n = len(entries)
        if n:
            i = 0
            while i < n:
                e = entries[i]
                if e.index > last:
                    break
                if log[e.index - 1].term != e.term:
                    self._truncate(e.index)
                    break
                i += 1
            if i < n:
                new = entries[i:] if i else entries
                log.extend(new)
                out.appended.extend(new)

        last_new = prev + n
        if m.commit > self._commit:
            self._set_commit(m.commit if m.commit < last_new else last_new)
        out.messages.append(AppendResponse(self._id, m.src, self._term, True, last_new, 0))

    def _find_conflict_by_term(self, index: int, term: int, floor: int) -> int:
        """etcd's findConflictByTerm: the largest index <= index (and >= floor)
        whose entry has term <= term. On the follower (term = the leader's
        prev_term) entries above it cannot match the leader's log, whose terms
        up to prev_index are <= prev_term; on the leader (term = the
        follower's hint_term) the same argument runs the other way. Either
        side can skip a whole divergent term in one round trip."""
        idx = min(index, len(self._log))
        log = self._log
        while idx > floor and log[idx - 1].term > term:
            idx -= 1
        return idx

    # --- replication: leader side ---------------------------------------------------

    def _append_own(self, command: Command | None) -> None:
        e = Entry(self._term, len(self._log) + 1, command)
        self._log.append(e)
        self._out.appended.append(e)

    def _send_append(self, p: str, *, allow_empty: bool) -> None:
        """Send p the entries from nextIndex (up to a batch). In replicate
        state nextIndex advances optimistically; in probe state one request
        is outstanding at a time (etcd's paused probe) until p answers or the
        next heartbeat."""
        if self._paused[p]:
            return
        nxt = self._next[p]
        log = self._log
        last = len(log)
        if nxt > last and not allow_empty:
            return
        prev = nxt - 1
        prev_term = log[prev - 1].term if prev > 0 else 0
        entries = tuple(log[prev : prev + MAX_ENTRIES_PER_APPEND]) if nxt <= last else ()
        self._out.messages.append(
            AppendRequest(self._id, p, self._term, prev, prev_term, entries, self._commit)
        )
        if self._probing[p]:
            self._paused[p] = True
        elif entries:
            self._next[p] = prev + len(entries) + 1

    def _on_append_response(self, m: AppendResponse) -> None:
        p = m.src
        nxt = self._next
        if p not in nxt:
            return
        paused = self._paused
        was_paused = paused[p]
        paused[p] = False
        if m.success:
            match_index = m.match_index
            # The commit index can only move when a match index passes it
            # (matches never exceed our log, which only grows while we lead),
            # so skip the quorum computation otherwise: it would say no.
            may_commit = timeout_now = False
            if match_index > self._match[p]:
                self._match[p] = match_index
                may_commit = match_index > self._commit
                if self._transferee is not None:
                    timeout_now = p == self._transferee and match_index == len(self._log)
            if nxt[p] <= match_index:
                nxt[p] = match_index + 1
            self._probing[p] = False
            if may_commit and self._leader_maybe_commit():
                for q in self._peers:
                    self._send_append(q, allow_empty=True)
            elif was_paused or nxt[p] <= len(self._log):
                # a probe answered: continue, or at least pass on the commit
                # index the peer missed while paused
                self._send_append(p, allow_empty=was_paused)
            if timeout_now:
                self._send_timeout_now(p)  # the transferee has caught up
            return
        rejected = m.match_index
        if self._probing[p]:
            if rejected != self._next[p] - 1:
                return  # stale: answers an earlier probe
        elif rejected <= self._match[p]:
            return  # stale: already known to match there
        match = self._match[p]
        hint = m.hint_index
        if m.hint_term > 0:
            hint = self._find_conflict_by_term(hint, m.hint_term, match)
        self._next[p] = max(min(rejected, hint + 1), match + 1)
        self._probing[p] = True
        self._send_append(p, allow_empty=True)

    def _send_timeout_now(self, p: str) -> None:
        self._out.messages.append(TimeoutNow(self._id, p, self._term))

    def _leader_maybe_commit(self) -> bool:
        """Figure 2 / §5.4.2: commit the highest N replicated on a quorum
        whose entry is from the current term (older entries commit with it)."""
        log = self._log
        n = len(log)
        if self._quorum > 1:
            # our own log counts as one replica
            m = sorted(self._match.values(), reverse=True)[self._quorum - 2]
            if m < n:
                n = m
        if n > self._commit and log[n - 1].term == self._term:
            self._set_commit(n)
            return True
        return False
