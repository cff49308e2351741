"""Clients: put/get/delete against the simulated cluster, and a load generator.

A request goes from the client to its *endpoint*, one running member (kept
until it goes down, then another is picked, like a client whose connection
broke failing over to the next endpoint). Client↔member hops take one
network latency draw each way.

Writes: the endpoint proposes if it leads, or forwards the proposal to the
leader it knows over the peer network (etcd forwards MsgProp the same way).
The write is acknowledged when the *endpoint* applies the entry carrying the
request id, as etcd's server wakes the waiting request on apply. A member
that knows no leader drops the proposal, and the request fails with a
timeout, as etcd's does: the timeout is etcd's request timeout,
5 s + 2 x election timeout.

Reads are linearizable, served by the leader: it records its commit index
(the read index), waits one round trip, and answers once it has applied up to
that index and still leads the same term with a quorum that can hear it.
That last test looks at the cluster from outside instead of exchanging real
heartbeats (the Raft core has no ReadIndex messages); its outcome is what
ReadIndex's heartbeat round would decide. A read still unanswered when its
endpoint learns of a new leader fails at once with "leader changed", as
etcd's linearizable read loop gives up on a leader change
(``ErrLeaderChanged``) instead of waiting out the request timeout.
"""

from __future__ import annotations

import itertools
import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from etcdplay.sim.clock import Scheduler
from etcdplay.sim.network import Network
from etcdplay.sim.node import SimNode
from etcdplay.sim.raft import Command, Entry, NotLeader, Record, Role

MAX_FORWARD_HOPS = 3


@dataclass(slots=True, init=False)
class ForwardedProposal(Record):
    """A follower passing a client write to its leader (etcd: MsgProp)."""

    src: str
    dst: str
    command: Command
    hops: int

    # one per forwarded write: a hand-written __init__ (see raft.Command)
    def __init__(self, src: str, dst: str, command: Command, hops: int) -> None:
        self.src = src
        self.dst = dst
        self.command = command
        self.hops = hops


@dataclass(frozen=True, slots=True)
class ReadRequest:
    src: str  # the endpoint that must get the answer
    dst: str
    request_id: int
    key: str
    prefix: bool


@dataclass(frozen=True, slots=True)
class ReadReply:
    src: str
    dst: str
    request_id: int
    ok: bool
    value: Any


# One per request: a hand-written __init__ (see etcdplay.sim.raft.Command).
@dataclass(slots=True, init=False)
class ClientResult(Record):
    op: str
    key: str
    ok: bool
    latency: float
    value: Any
    error: str | None
    node: str | None
    source: str

    def __init__(
        self,
        op: str,
        key: str,
        ok: bool,
        latency: float,
        value: Any = None,
        error: str | None = None,
        node: str | None = None,
        source: str = "step",
    ) -> None:
        self.op = op
        self.key = key
        self.ok = ok
        self.latency = latency
        self.value = value
        self.error = error
        self.node = node
        self.source = source


Done = Callable[[ClientResult], None]


@dataclass(slots=True, init=False)
class _Pending:
    op: str
    key: str
    value: str
    started: float
    source: str
    done: Done
    endpoint: str | None
    finished: bool
    prefix: bool
    serializable: bool
    expect: str | None

    def __init__(
        self,
        op: str,
        key: str,
        value: str,
        started: float,
        source: str,
        done: Done,
        *,
        prefix: bool,
        serializable: bool = False,
        expect: str | None = None,
    ) -> None:
        self.op = op
        self.key = key
        self.value = value
        self.started = started
        self.source = source
        self.done = done
        self.endpoint = None
        self.finished = False
        self.prefix = prefix
        self.serializable = serializable
        self.expect = expect


@dataclass(slots=True)
class _Read:
    request_id: int
    endpoint: str
    key: str
    prefix: bool
    term: int
    read_index: int


#: etcd's readIndexRetryTime: how often a read without a leader asks again.
READ_INDEX_RETRY = 0.5


class ClientService:
    """Every client request of a run, and the member-side handling of them."""

    def __init__(
        self,
        scheduler: Scheduler,
        nodes: Mapping[str, SimNode],
        network: Network,
        rng: random.Random,
        *,
        request_timeout: float,
    ) -> None:
        self._sched = scheduler
        self._nodes = nodes
        self._net = network
        self._rng = rng
        self._request_timeout = request_timeout
        # Request deadlines in submission order (so in deadline order: the
        # timeout is fixed). One timer, armed for the oldest request still
        # pending, expires them: a timer per request would put ~100 moot
        # entries per second of load onto the event queue, and every event
        # pays for the queue's depth.
        self._deadlines: deque[tuple[float, int]] = deque()
        self._expiry_armed = False
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._reads: dict[str, list[_Read]] = {}  # leader -> reads waiting to be served
        self._parked: dict[str, list[Command]] = {}  # member -> proposals waiting for a leader
        # member -> linearizable gets it is reading for (request ids, in arrival order)
        self._reading: dict[str, dict[int, None]] = {}
        self.endpoint: str | None = None
        for node in nodes.values():
            node.on_apply = self._applied
            node.on_other = self._member_receive

    # --- the client side --------------------------------------------------------

    def submit(
        self,
        op: str,
        key: str,
        value: str,
        *,
        done: Done,
        source: str = "step",
        prefix: bool = False,
        endpoint: str | None = None,
        serializable: bool = False,
        expect: str | None = None,
    ) -> int:
        """Start one operation (put, delete, txn, get, or get with ``prefix``);
        ``done`` is called exactly once, on success or failure. ``endpoint``
        sends it to that member (a request to a member that is down fails at
        once, as a refused connection does); by default the client picks.
        A ``serializable`` get is answered by the endpoint from its own store,
        without asking the leader (etcd's serializable read: may be stale).
        A txn puts ``value`` if the key holds ``expect`` (None: is absent);
        its result's value says whether the compare held."""
        rid = next(self._ids)
        pending = _Pending(
            op,
            key,
            value,
            self._sched.now(),
            source,
            done,
            prefix=prefix,
            serializable=serializable,
            expect=expect,
        )
        self._pending[rid] = pending
        self._deadlines.append((pending.started + self._request_timeout, rid))
        if not self._expiry_armed:
            self._arm_expiry()
        if endpoint is not None:
            member = self._nodes[endpoint]
            if not member.running or member.stopping or member.leaving:
                pending.endpoint = endpoint
                self._sched.call_later(
                    0.0, self._finish, rid, False, None, f"{endpoint} is not running (connection refused)"
                )
                return rid
        else:
            endpoint = self._pick_endpoint()
        if endpoint is None:
            return rid  # nothing to talk to: it will time out, as a dial would
        pending.endpoint = endpoint
        self._sched.call_later(self._net.sample_latency(), self._arrive, rid, endpoint)
        return rid

    def _pick_endpoint(self) -> str | None:
        current = self.endpoint
        if current is not None and self._nodes[current].running and not self._nodes[current].leaving:
            return current
        running = sorted(
            n for n, node in self._nodes.items() if node.running and not node.stopping and not node.leaving
        )
        self.endpoint = self._rng.choice(running) if running else None
        return self.endpoint

    def _finish(self, rid: int, ok: bool, value: Any = None, error: str | None = None) -> None:
        pending = self._pending.pop(rid, None)
        if pending is None or pending.finished:
            return
        pending.finished = True
        if pending.endpoint is not None and pending.endpoint in self._reading:
            self._reading[pending.endpoint].pop(rid, None)
        latency = self._sched.now() - pending.started
        if pending.op == "put":
            value = pending.value  # a write's result carries what it wrote
        pending.done(
            ClientResult(pending.op, pending.key, ok, latency, value, error, pending.endpoint, pending.source)
        )

    @property
    def request_timeout(self) -> float:
        return self._request_timeout

    def _arm_expiry(self) -> None:
        """Set the timer for the oldest deadline of a request still pending."""
        deadlines, pending = self._deadlines, self._pending
        while deadlines and deadlines[0][1] not in pending:
            deadlines.popleft()
        self._expiry_armed = bool(deadlines)
        if deadlines:
            self._sched.call_at(deadlines[0][0], self._expire)

    def _expire(self) -> None:
        """Time out every request whose deadline has come."""
        now = self._sched.now()
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, rid = deadlines.popleft()
            if rid in self._pending:
                self._finish(rid, False, error="request timed out")
        self._arm_expiry()

    def _reply(self, rid: int, ok: bool, value: Any = None, error: str | None = None) -> None:
        """The endpoint answers; the answer travels back to the client."""
        self._sched.call_later(self._net.sample_latency(), self._finish, rid, ok, value, error)

    # --- the endpoint --------------------------------------------------------------

    def _arrive(self, rid: int, endpoint: str) -> None:
        pending = self._pending.get(rid)
        node = self._nodes[endpoint]
        if pending is None:
            return
        if node.raft is None or node.stopping or node.leaving:
            return  # the member died (or closed its client port) with the request in flight: timeout
        if pending.op == "get" and pending.serializable:
            if node.kv is not None:
                self._reply(rid, True, node.kv.get(pending.key))
            return
        if pending.op == "get":
            self._reading.setdefault(endpoint, {})[rid] = None
            leader = node.raft.leader
            if leader is None:
                # etcd's linearizable read loop asks again every 500 ms until a
                # leader answers or the request times out.
                self._sched.call_later(READ_INDEX_RETRY, self._arrive, rid, endpoint)
                return
            request = ReadRequest(endpoint, leader, rid, pending.key, pending.prefix)
            if leader == endpoint:
                self._serve_read(node, request)
            else:
                self._net.send(endpoint, leader, request)
            return
        command = Command(pending.op, pending.key, pending.value, rid, pending.expect)
        self._propose(node, command, hops=0)

    def _propose(self, node: SimNode, command: Command, hops: int) -> None:
        raft = node.raft
        if raft is not None and raft.role is not Role.LEADER:
            # what node.propose would raise NotLeader for, without the cost
            # of an exception (most requests reach a follower first)
            leader = raft.leader
        else:
            try:
                node.propose(command)
                return
            except NotLeader as exc:
                leader = exc.leader_hint
        if leader is None and hops == 0 and raft is not None:
            # etcd's raft node stops taking proposals while it knows no leader
            # (its proposal channel is nil): the request waits, then goes on.
            self._parked.setdefault(node.name, []).append(command)
            return
        if leader is None or leader == node.name or hops >= MAX_FORWARD_HOPS:
            return  # a forwarded proposal reaching a node with no leader is dropped, as in etcd
        self._net.send(node.name, leader, ForwardedProposal(node.name, leader, command, hops + 1))

    def leader_known(self, name: str) -> None:
        """``name`` learned a leader: proposals waiting there may go on. Called
        from inside a node's output handling, so the retry is scheduled just
        after it, never nested in it (that could reorder the node's log writes)."""
        if name in self._parked:
            self._sched.call_later(0.0, self._unpark, name)
        if self._reading.get(name):
            self._sched.call_later(0.0, self._leader_changed, name)

    def member_down(self, name: str) -> None:
        """Proposals waiting at a member that goes down are lost with it (and
        its reads: their connection is gone, they time out)."""
        self._parked.pop(name, None)
        self._reading.pop(name, None)

    def _leader_changed(self, name: str) -> None:
        """``name`` learned of a new leader: every read it is still doing fails,
        as etcd's read loop returns ErrLeaderChanged (a retryable error)."""
        for rid in list(self._reading.pop(name, {})):
            if rid in self._pending:
                self._reply(rid, False, None, "etcdserver: leader changed")

    def _unpark(self, name: str) -> None:
        node = self._nodes[name]
        waiting = self._parked.pop(name, [])
        if node.raft is None or node.stopping or node.leaving:
            return  # the member went down: those requests time out
        for command in waiting:
            self._propose(node, command, 0)

    def _member_receive(self, node: SimNode, message: Any) -> None:
        if isinstance(message, ForwardedProposal):
            self._propose(node, message.command, message.hops)
        elif isinstance(message, ReadRequest):
            self._serve_read(node, message)
        elif isinstance(message, ReadReply):
            self._reply(message.request_id, message.ok, message.value)

    def _applied(self, node: SimNode, entry: Entry) -> None:
        command = entry.command
        if command is not None:
            pending = self._pending.get(command.request_id)
            if pending is not None and pending.endpoint == node.name:
                # a txn's answer: did the compare hold where it was applied
                held = command.op == "txn" and node.kv is not None and node.kv.compare_held
                self._reply(command.request_id, True, held if command.op == "txn" else None)
        reads = self._reads.get(node.name)
        if reads:
            self._try_reads(node)

    # --- linearizable reads at the leader -----------------------------------------

    def _serve_read(self, node: SimNode, request: ReadRequest) -> None:
        raft = node.raft
        if raft is None or raft.role is not Role.LEADER:
            return  # not (or no longer) the leader: the read times out
        read = _Read(
            request.request_id,
            request.src,
            request.key,
            request.prefix,
            raft.term,
            raft.commit_index,
        )
        # ReadIndex costs one heartbeat round trip before the read can go.
        rtt = self._net.sample_latency() + self._net.sample_latency()
        self._sched.call_later(rtt, self._queue_read, node.name, read)

    def _queue_read(self, leader: str, read: _Read) -> None:
        self._reads.setdefault(leader, []).append(read)
        self._try_reads(self._nodes[leader])

    def _try_reads(self, node: SimNode) -> None:
        reads = self._reads.get(node.name, [])
        raft, kv = node.raft, node.kv
        waiting: list[_Read] = []
        for read in reads:
            if raft is None or kv is None or raft.term != read.term or not self._leads(node):
                continue  # deposed: the read is abandoned and times out
            if kv.applied_index < read.read_index:
                waiting.append(read)
                continue
            if read.prefix:
                value: Any = {k: v for k, v in kv.items() if k.startswith(read.key)}
            else:
                value = kv.get(read.key)
            self._send_read_reply(node.name, read, value)
        if waiting:
            self._reads[node.name] = waiting
        else:
            self._reads.pop(node.name, None)

    def _send_read_reply(self, leader: str, read: _Read, value: Any) -> None:
        if read.endpoint == leader:
            self._reply(read.request_id, True, value)
        else:
            self._net.send(
                leader,
                read.endpoint,
                ReadReply(leader, read.endpoint, read.request_id, True, value),
            )

    def _leads(self, node: SimNode) -> bool:
        """Would a heartbeat round at this moment confirm ``node`` as leader?"""
        raft = node.raft
        if raft is None or raft.role is not Role.LEADER:
            return False
        acks = 1
        for peer in node.peers:
            other = self._nodes[peer]
            if (
                other.raft is not None
                and self._net.connected(node.name, peer)
                and other.raft.term <= raft.term
            ):
                acks += 1
        return acks >= (len(node.peers) + 1) // 2 + 1

    def outstanding(self) -> int:
        return len(self._pending)


@dataclass(slots=True)
class LoadGenerator:
    """Writes ``prefix + sequence`` at ``rate`` per second (fixed spacing, the
    way a load tool that sleeps 1/rate between requests behaves) for
    ``duration`` seconds. Finished when the last write has an answer.

    With ``keys`` the writes cycle over that many keys (``prefix + n % keys``),
    so later writes overwrite earlier ones; with ``deletes`` that fraction of
    them (drawn from ``rng``) are deletes, so the final values say whether
    overwrites and deletes took effect in order."""

    clients: ClientService
    scheduler: Scheduler
    rate: float
    duration: float
    prefix: str
    on_result: Done
    on_end: Callable[[LoadGenerator], None]
    endpoint: str | None = None  # the member every write goes to (None: the client picks)
    keys: int = 0
    deletes: float = 0.0
    rng: random.Random | None = None
    sent: int = 0
    acked: int = 0
    failed: int = 0
    sending: bool = True
    running: bool = True
    _end_at: float = field(default=0.0)

    def start(self) -> None:
        self._end_at = self.scheduler.now() + self.duration
        self._next()

    def _next(self) -> None:
        if not self.sending:
            return
        if self.scheduler.now() >= self._end_at - 1e-12:
            self.sending = False
            self._maybe_end()
            return
        n = self.sent
        key = f"{self.prefix}{n % self.keys if self.keys else n}"
        self.sent += 1
        op = "put"
        if self.rng is not None and self.rng.random() < self.deletes:
            op = "delete"
        self.clients.submit(
            op, key, f"v{n}" if op == "put" else "", done=self._done, source="load", endpoint=self.endpoint
        )
        self.scheduler.call_later(1.0 / self.rate, self._next)

    def _done(self, result: ClientResult) -> None:
        if result.ok:
            self.acked += 1
        else:
            self.failed += 1
        self.on_result(result)
        self._maybe_end()

    def _maybe_end(self) -> None:
        if self.running and not self.sending and self.acked + self.failed == self.sent:
            self.running = False
            self.on_end(self)
