"""A simulated member: the sans-I/O RaftNode plus the time, disk and failures
around it.

What happens to each ``Output`` the core returns:

1. at once: its events go to the trace and the safety monitor, and the
   timers hear about resets and role changes (timers are volatile state of
   the core, not of the disk);
2. if it must be synced (new entries, term or vote: etcd's ``raft.MustSync``;
   a commit-index-only change is written without an fsync), it waits for a
   disk write (``disk`` latency;
   writes are sequential and group-committed: everything that queued while
   one write was in flight goes into the next one, as etcd's raft loop
   persists one ``Ready`` batch per fsync). Outputs that need no write still
   wait behind earlier ones, so effects are never reordered;
3. when written: the persisted ``Storage`` copy is updated, then messages
   are sent and committed entries applied to the KV store.

Crash: the RaftNode, KV store, timers and any write in flight are lost; the
persisted ``Storage`` (hard state + log) survives. Restart builds a new
RaftNode from it and a *new* KV store, re-applying the persisted log up to the
persisted commit index. etcd keeps its KV state in bbolt and replays the WAL
from the store's consistent index instead; the contents it ends with are the
same, so we take the simpler road.

Stop (graceful, etcd on SIGTERM): a leader first hands leadership over
(etcd's ``TransferLeadership``: to the peer it has been connected to longest,
then it waits, polling once per heartbeat interval, until that peer leads or
the request timeout passes), still running Raft meanwhile. Then inputs and
timers stop, pending disk writes finish (and their messages go out), and the
member is down like after a crash.
"""

from __future__ import annotations

import hashlib
import random
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from etcdplay.distributions import Distribution
from etcdplay.sim.clock import Scheduler
from etcdplay.sim.kv import KVStore
from etcdplay.sim.network import Network, sampler
from etcdplay.sim.raft import (
    AppendRequest,
    AppendResponse,
    Command,
    Entry,
    HardState,
    Output,
    RaftEvent,
    RaftNode,
    Role,
    Storage,
    TimeoutNow,
    VoteRequest,
    VoteResponse,
)
from etcdplay.sim.safety import SafetyMonitor
from etcdplay.sim.timers import NodeTimers, TimerHooks, TimerModel

_RAFT_MESSAGES = frozenset({AppendRequest, AppendResponse, VoteRequest, VoteResponse, TimeoutNow})

#: (node, RaftNode, Output, now): the safety monitor's ``observe_output``.
OutputObserver = Callable[[str, RaftNode, Output, float], None]
#: (node, event, now): role / vote / leader / commit events for the trace.
EventObserver = Callable[[str, RaftEvent, float], None]
#: (node, entry): an entry was applied to this node's KV store.
ApplyObserver = Callable[["SimNode", Entry], None]
#: (node, message): a non-Raft message (client traffic) reached this node.
OtherReceiver = Callable[["SimNode", Any], None]
#: (node, message): every Raft message delivered, before the core sees it.
ReceiveHook = Callable[[str, Any], None]
#: (node, when its election timer fires or None for a leader, the timeout in s)
TimerObserver = Callable[[str, float | None, float], None]


class SimNode:
    def __init__(
        self,
        name: str,
        peers: Sequence[str],
        *,
        scheduler: Scheduler,
        network: Network,
        timers: TimerModel,
        disk: Distribution,
        rng: random.Random,
        pre_vote: bool,
        check_quorum: bool,
        timer_rng: random.Random | None = None,
        keep_kv: bool = True,
        safety: SafetyMonitor | None = None,
        on_output: OutputObserver | None = None,
        on_event: EventObserver | None = None,
        on_apply: ApplyObserver | None = None,
        on_other: OtherReceiver | None = None,
        on_receive: ReceiveHook | None = None,
        transfer_poll: float = 0.1,
        transfer_timeout: float = 7.0,
    ) -> None:
        self.name = name
        self.peers = [p for p in peers if p != name]
        self._sched = scheduler
        self._net = network
        self._timer_model = timers
        self._disk = disk
        self._disk_sample = sampler(disk, rng)
        self._rng = rng  # disk latency draws
        self._timer_rng = timer_rng if timer_rng is not None else rng
        self._pre_vote = pre_vote
        self._check_quorum = check_quorum
        self._keep_kv = keep_kv
        # the safety monitor sees every output first; a typed reference, not
        # an ``on_output`` hook: compiled, that is a direct call per output
        self.safety = safety
        self.on_output = on_output
        self.on_event = on_event
        self.on_apply = on_apply
        self.on_other = on_other
        self.on_receive = on_receive
        # the opt-in message trace level: told (name, deadline, timeout)
        # whenever the election timer is (re)armed or stops (a leader)
        self.on_timer: TimerObserver | None = None
        self._told_timer: tuple[float | None, float] = (None, -1.0)
        # a stopping leader checks every transfer_poll s whether its
        # transferee leads (etcd: every --heartbeat-interval), for at most
        # transfer_timeout s (etcd's request timeout, 5 s + 2 x election)
        self.transfer_poll = transfer_poll
        self.transfer_timeout = transfer_timeout

        self.storage = Storage(HardState(0, None, 0), [])  # what is on disk
        self.raft: RaftNode | None = None
        self.kv: KVStore | None = None
        self.timers: NodeTimers | None = None
        self.running = False
        self.stopping = False
        # a stopping leader handing over: Raft still runs, clients are refused
        self.leaving = False
        self.transfer_target: str | None = None  # whom it handed over to
        self._on_halt: Callable[[], None] | None = None
        self._incarnation = 0  # bumped on crash: stale disk completions do nothing
        self._queue: deque[Output] = deque()  # outputs waiting for the disk
        self._syncs_queued = 0  # how many queued outputs need an fsync
        # term and vote as last handed to the disk: a change needs an fsync
        self._durable_term = 0
        self._durable_vote: str | None = None
        self._writing = False
        self._is_leader = False
        self._after_stop: Callable[[], None] | None = None
        self.disk_writes = 0
        # An order-independent digest of the KV contents (XOR of one hash per
        # item), kept up to date on every apply. KVStore.hash rehashes the
        # whole store, which is O(keys) per status event and dominated long
        # runs; equal contents still give equal digests on every machine.
        self.digest = 0

    # --- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        """Boot, or restart from what is on disk."""
        if self.running:
            return
        now = self._sched.now()
        self._incarnation += 1
        self.running = True
        self.stopping = False
        self.leaving = False
        self.transfer_target = None
        self._is_leader = False
        self._queue.clear()
        self._syncs_queued = 0
        self._writing = False
        self._durable_term = self.storage.hard_state.term
        self._durable_vote = self.storage.hard_state.voted_for
        fresh = not self.storage.log and self.storage.hard_state.term == 0
        self.raft = RaftNode(
            self.name,
            self.peers,
            pre_vote=self._pre_vote,
            check_quorum=self._check_quorum,
            election_timeout=self._timer_model.base_election_timeout,
            storage=None if fresh else _copy_storage(self.storage),
            now=now,
        )
        self.kv = KVStore() if self._keep_kv else None
        self.digest = 0
        hooks = TimerHooks(self._election_fired, self._heartbeat_fired, self._check_quorum_fired)
        self.timers = self._timer_model.for_node(self._sched, self._timer_rng, hooks)
        self.timers.start(leader=False)
        self.raft.lease_clock = self.timers.in_lease
        if self.on_timer is not None:
            self._tell_timer(self.timers)
        self._net.attach(self.name, self.receive)
        if not fresh:
            # Hands back log[1..commit] so the new KV store catches up.
            self._handle(self.raft.flush(now), now)

    def crash(self) -> None:
        """Lose everything volatile, keep ``storage``."""
        if not self.running:
            return
        self._go_down()

    def stop(
        self,
        then: Callable[[], None] | None = None,
        *,
        halted: Callable[[], None] | None = None,
    ) -> None:
        """Stop gracefully: a leader hands over leadership first; then stop
        taking input (``halted()`` is called then), let pending disk writes
        finish, and go down (``then()``)."""
        if not self.running or self.stopping or self.leaving:
            return
        self._after_stop = then
        raft = self.raft
        target = self._transferee() if raft is not None and raft.role is Role.LEADER else None
        if raft is None or target is None:
            self._halt(halted)
            return
        self.leaving = True
        self.transfer_target = target
        self._on_halt = halted
        now = self._sched.now()
        self._handle(raft.transfer_leadership(target, now), now)
        self._sched.call_later(
            self.transfer_poll, self._poll_transfer, self._incarnation, target, now + self.transfer_timeout
        )

    def _transferee(self) -> str | None:
        """etcd's longestConnected: the peer whose connection has been up the
        longest (ties: the first in peer order); None if none is connected."""
        best: tuple[float, str] | None = None
        for peer in self.peers:
            since = self._net.active_since(self.name, peer)
            if since is not None and (best is None or since < best[0]):
                best = (since, peer)
        return best[1] if best is not None else None

    def _poll_transfer(self, incarnation: int, target: str, deadline: float) -> None:
        """etcd's MoveLeader loop: wait until the transferee leads, or give up
        at the deadline; either way the member then stops."""
        if incarnation != self._incarnation or not self.leaving:
            return  # crashed or restarted meanwhile
        raft = self.raft
        now = self._sched.now()
        if raft is not None and raft.leader != target and now < deadline:
            self._sched.call_later(self.transfer_poll, self._poll_transfer, incarnation, target, deadline)
            return
        halted, self._on_halt = self._on_halt, None
        self.leaving = False
        self._halt(halted)

    def _halt(self, halted: Callable[[], None] | None) -> None:
        """Stop taking input; go down once the disk is idle."""
        if halted is not None:
            halted()
        self.stopping = True
        if self.timers is not None:
            self.timers.stop()
        self._net.detach(self.name)
        if not self._writing and not self._queue:
            self._go_down()

    def _go_down(self) -> None:
        self.running = False
        self.stopping = False
        self.leaving = False
        self._on_halt = None
        self._incarnation += 1
        if self.timers is not None:
            self.timers.stop()
        self._net.detach(self.name)
        self.raft = None
        self.kv = None
        self.timers = None
        self._queue.clear()
        self._syncs_queued = 0
        self._writing = False
        self._is_leader = False
        then, self._after_stop = self._after_stop, None
        if then is not None:
            then()

    # --- inputs -------------------------------------------------------------------

    def receive(self, message: Any) -> None:
        raft = self.raft
        if raft is None or self.stopping:
            return
        if type(message) in _RAFT_MESSAGES:
            if self.on_receive is not None:
                self.on_receive(self.name, message)
                # the hook may have crashed this very node (the failover
                # experiment crashes its victims once a heartbeat is in)
                raft = self.raft
                if raft is None or self.stopping:
                    return
            now = self._sched.now()
            self._handle(raft.step(message, now), now)
        elif self.on_other is not None:
            self.on_other(self, message)

    def propose(self, command: Command) -> None:
        """Propose on this node; raises ``NotLeader`` when it does not lead."""
        if self.raft is None:
            raise RuntimeError(f"{self.name} is down")
        now = self._sched.now()
        self._handle(self.raft.propose(command, now), now)

    def campaign_now(self) -> None:
        """Act as if the election timer fired (used to bootstrap experiments)."""
        self._election_fired()

    def _election_fired(self) -> None:
        if self.raft is not None and not self.stopping:
            now = self._sched.now()
            self._handle(self.raft.election_timeout_fired(now), now)

    def _heartbeat_fired(self) -> None:
        if self.raft is not None and not self.stopping:
            now = self._sched.now()
            self._handle(self.raft.heartbeat_fired(now), now)

    def _check_quorum_fired(self) -> None:
        if self.raft is not None and not self.stopping:
            now = self._sched.now()
            self._handle(self.raft.check_quorum_fired(now), now)

    # --- outputs ------------------------------------------------------------------

    def _handle(self, out: Output, now: float) -> None:
        """``out`` was produced at ``now`` (the current time)."""
        raft = self.raft
        assert raft is not None
        safety = self.safety
        if safety is not None:
            safety.observe_output(self.name, raft, out, now)
        if self.on_output is not None:
            self.on_output(self.name, raft, out, now)
        events = out.events
        if events:
            on_event = self.on_event
            if on_event is not None:
                name = self.name
                for event in events:
                    on_event(name, event, now)
        timers = self.timers
        if timers is not None:
            role = raft.role
            leader = role is Role.LEADER
            if leader != self._is_leader:
                self._is_leader = leader
                timers.set_leader(leader)
            if out.reset_election_timer:
                # A Role is a str equal to its value.
                timers.reset_election(raft.term, role, out.contact_reset)
            if self.on_timer is not None:
                self._tell_timer(timers)
        sync = self._needs_sync(out)
        if self._writing or self._queue:
            self._queue.append(out)
            self._syncs_queued += sync
        elif sync:
            self._queue.append(out)
            self._syncs_queued += 1
            self._write()
        else:
            self._save_unsynced(out)
            self._release(out)

    def _tell_timer(self, timers: NodeTimers) -> None:
        deadline, timeout = timers.election_deadline()
        if (deadline, timeout) != self._told_timer:
            self._told_timer = (deadline, timeout)
            assert self.on_timer is not None
            self.on_timer(self.name, deadline, timeout)

    def _needs_sync(self, out: Output) -> bool:
        """etcd's raft.MustSync: only new entries, a new term or a new vote need
        an fsync before messages go out. A hard state that changes only the
        commit index is written to the WAL without one, so costs no disk time."""
        if out.appended or out.log_truncated_from is not None:
            return True
        hs = out.hard_state
        if hs is None:
            return False
        if hs.term == self._durable_term and hs.voted_for == self._durable_vote:
            return False
        self._durable_term, self._durable_vote = hs.term, hs.voted_for
        return True

    def _save_unsynced(self, out: Output) -> None:
        hs = out.hard_state
        if hs is not None:
            self.storage.hard_state = HardState(hs.term, hs.voted_for, hs.commit)

    def _write(self) -> None:
        """Start one disk write for everything queued."""
        batch = list(self._queue)
        self._queue.clear()
        self._syncs_queued = 0
        self._writing = True
        self.disk_writes += 1
        delay = self._disk_sample()
        self._sched.call_later(delay, self._written, self._incarnation, batch)

    def _written(self, incarnation: int, batch: list[Output]) -> None:
        if incarnation != self._incarnation:
            return  # crashed while writing: the write is lost
        storage = self.storage
        log = storage.log
        for out in batch:
            hs = out.hard_state
            if hs is not None:
                storage.hard_state = HardState(hs.term, hs.voted_for, hs.commit)
            if out.log_truncated_from is not None:
                del log[out.log_truncated_from - 1 :]
            if out.appended:
                log.extend(out.appended)
        self._writing = False
        release = self._release
        for out in batch:
            release(out)
        if self._queue:
            if self._syncs_queued:
                self._write()
            else:
                while self._queue:
                    out = self._queue.popleft()
                    self._save_unsynced(out)
                    self._release(out)
        if self.stopping and not self._writing and not self._queue:
            self._go_down()

    def _release(self, out: Output) -> None:
        """The output is durable: let the world see it."""
        if out.messages:
            self._net.send_all(self.name, out.messages)
        if out.committed:
            kv = self.kv
            on_apply = self.on_apply
            for entry in out.committed:
                if kv is not None:
                    self._apply(kv, entry)
                if on_apply is not None:
                    on_apply(self, entry)

    def _apply(self, kv: KVStore, entry: Entry) -> None:
        """Apply to the KV store and keep ``digest`` in step with it."""
        command = entry.command
        if command is None or entry.index <= kv.applied_index:
            kv.apply(entry)
            return
        old = kv.get(command.key)
        if kv.apply(entry):
            if old is not None:
                self.digest ^= item_digest(command.key, old)
            if command.op != "delete":  # a put, or a txn whose compare held
                self.digest ^= item_digest(command.key, command.value)

    # --- views --------------------------------------------------------------------

    @property
    def applied(self) -> int:
        return self.kv.applied_index if self.kv is not None else 0


def item_digest(key: str, value: str) -> int:
    # Every member applies the same items, so most calls repeat a recent one.
    cached = _digests.get((key, value))
    if cached is not None:
        return cached
    h = hashlib.blake2b(digest_size=8)
    kb, vb = key.encode(), value.encode()
    h.update(len(kb).to_bytes(4, "big"))
    h.update(kb)
    h.update(vb)
    digest = int.from_bytes(h.digest(), "big")
    if len(_digests) >= _DIGEST_CACHE:
        _digests.clear()
    _digests[key, value] = digest
    return digest


_DIGEST_CACHE = 4096
_digests: dict[tuple[str, str], int] = {}


def _copy_storage(storage: Storage) -> Storage:
    hs = storage.hard_state
    return Storage(HardState(hs.term, hs.voted_for, hs.commit), list(storage.log))
