"""The peer network: links with latency, loss, extra delay and partitions.

Members are the vertices of a networkx graph; an edge means two members can
talk. A partition removes the edges that cross between groups (a cut), and
``heal`` puts every edge back. Each directed link carries its own extra delay
(delay faults) and the time its last message arrives.

Links are FIFO, like the TCP streams etcd's rafthttp uses between members: a
message is never delivered before one sent earlier on the same directed link.
Raft would tolerate reordering, but etcd never shows it, so by default neither
do we. The harsher adversary (``disorder``, off by default) breaks that on
purpose for Raft's own messages: a message may be duplicated, or reordered
(delivered up to ``spread`` later, outside the link's FIFO order), as on the
unreliable network the Raft paper assumes. Client traffic (forwarded
proposals, reads) is never duplicated: that would be a client retry, which
Raft alone does not make exactly-once.

Delivery is a scheduled callback, not a process per message (see clock.py).
A message is lost when the link is cut at send time *or* at arrival time (a
partition drops what is in flight, as a broken TCP connection does), when the
receiver restarted meanwhile (the old connection died with it), or with
probability ``loss``.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import networkx as nx

from etcdplay.distributions import Distribution
from etcdplay.sim.clock import Scheduler
from etcdplay.sim.raft import AppendRequest, AppendResponse, TimeoutNow, VoteRequest, VoteResponse

Receiver = Callable[[Any], None]

#: The messages ``disorder`` may duplicate or reorder: Raft's own.
_RAFT_MESSAGES = frozenset({AppendRequest, AppendResponse, VoteRequest, VoteResponse, TimeoutNow})


@dataclass(slots=True)
class NetworkStats:
    sent: int = 0
    delivered: int = 0
    dropped_partition: int = 0
    dropped_loss: int = 0
    dropped_down: int = 0
    duplicated: int = 0  # extra copies delivered by ``disorder``
    reordered: int = 0  # messages sent outside their link's FIFO order

    @property
    def dropped(self) -> int:
        return self.dropped_partition + self.dropped_loss + self.dropped_down


def sampler(dist: Distribution, rng: random.Random) -> Callable[[], float]:
    """A zero-argument function drawing from ``dist`` in seconds, with the
    same draws as ``dist.sample(rng)`` but without its per-call dispatch: the
    network and the disk sample once per message or write."""
    if dist.kind == "fixed":
        seconds = dist.sample(rng)
        return lambda: seconds
    if dist.kind == "uniform":
        # rng.uniform(lo, hi) is lo + (hi - lo) * rng.random(): the same
        # arithmetic, so the same floats, without a method call per draw.
        lo, span = dist.params[0], dist.params[1] - dist.params[0]
        rand = rng.random
        return lambda: (lo + span * rand()) / 1000.0
    return lambda: dist.sample(rng)


class _Member:
    """Where messages for one member go, and which incarnation of it runs."""

    __slots__ = ("incarnation", "receiver")

    def __init__(self) -> None:
        self.incarnation = 0
        self.receiver: Receiver | None = None


@dataclass(frozen=True, slots=True)
class Disorder:
    """What the harsher adversary does to Raft messages on a link: each is
    duplicated with probability ``duplicate`` and sent outside the link's FIFO
    order with probability ``reorder``; a reordered message or a duplicate
    arrives up to ``spread`` seconds (uniform) after its normal arrival."""

    duplicate: float
    reorder: float
    spread: float


class _Link:
    """One direction of one peer connection."""

    __slots__ = (
        "deliver",
        "disorder",
        "dst",
        "extra",
        "extra_sample",
        "last_arrival",
        "net",
        "since",
        "src",
        "target",
        "up",
    )

    def __init__(self, net: Network, src: str, dst: str, target: _Member) -> None:
        self.src = src
        self.dst = dst
        self.extra: Distribution | None = None
        # draws from ``extra`` (network.sampler): the same floats as
        # ``extra.sample(rng)`` without a Python-level call per message
        self.extra_sample: Callable[[], float] | None = None
        self.disorder: Disorder | None = None
        self.last_arrival = 0.0
        self.net = net
        self.target = target
        self.up = True  # not cut by a partition (mirrors the graph's edge)
        # when this connection was (re)established: at a (re)start of either
        # end or when a partition healed (etcd's rafthttp ActiveSince)
        self.since = 0.0
        # ``arrive`` bound once: scheduling ``link.arrive`` per message would
        # build a new bound method each time (compiled, a generic attribute
        # lookup and an allocation per message)
        self.deliver: Callable[[int, Any], None] = self.arrive

    def arrive(self, incarnation: int, message: Any) -> None:
        net = self.net
        stats = net.stats
        if net.observer is not None:
            net.arrived(self, incarnation, message)
        if not self.up:
            stats.dropped_partition += 1
            return
        target = self.target
        receiver = target.receiver
        if target.incarnation != incarnation or receiver is None:
            stats.dropped_down += 1
            return
        stats.delivered += 1
        receiver(message)


#: (message id, src, dst, message, arrival time or None, why it was dropped
#: or None): a send has an arrival time; a drop says "partition", "loss" or
#: "down", and repeats the id of the send when it happens on arrival.
MessageObserver = Callable[[int, str, str, Any, float | None, str | None], None]


class Network:
    def __init__(
        self,
        scheduler: Scheduler,
        names: Sequence[str],
        latency: Distribution,
        rng: random.Random,
        *,
        loss: float = 0.0,
        disorder: Disorder | None = None,
        disorder_rng: random.Random | None = None,
    ) -> None:
        self._scheduler = scheduler
        self.names = list(names)
        self.latency = latency
        self.loss = loss
        self._rng = rng
        self.graph: nx.Graph = nx.complete_graph(self.names)
        # A plain dict of sets mirrors the graph's edges (~3x faster than its
        # views), and each link's ``up`` flag mirrors that for the hot path.
        self._reach: dict[str, set[str]] = {}
        self._members = {n: _Member() for n in self.names}
        self._links = {
            (a, b): _Link(self, a, b, self._members[b]) for a in self.names for b in self.names if a != b
        }
        # the same links by source, then destination
        self._links_from: dict[str, dict[str, _Link]] = {n: {} for n in self.names}
        for (a, b), link in self._links.items():
            self._links_from[a][b] = link
        self.stats = NetworkStats()
        # An experiment's own message filter (e.g. keep some followers stale):
        # returns True to lose the message. Counted as loss.
        self.drop: Callable[[str, str, Any], bool] | None = None
        self._sample = sampler(latency, rng)
        # The opt-in message trace level: told of every peer message sent,
        # lost or dropped (see MessageObserver). None costs one test per message.
        self.observer: MessageObserver | None = None
        self._in_flight: dict[int, int] = {}  # id(message) -> the observer's message id
        self._message_ids = itertools.count(1)
        # The whole run's disorder (NetworkSpec), restored by heal; its own
        # generator, so turning it on moves no other draw.
        self._base_disorder = disorder
        self._disorder_rng = disorder_rng if disorder_rng is not None else random.Random(0)
        self._disorder_random = self._disorder_rng.random  # bound once: called per message
        if disorder is not None:
            for link in self._links.values():
                link.disorder = disorder
        self._sync_reach()

    # --- wiring ---------------------------------------------------------------

    def attach(self, name: str, receiver: Receiver) -> None:
        """Deliver messages for ``name`` to ``receiver`` from now on. Called on
        every (re)start: messages sent to an earlier incarnation are dropped."""
        member = self._members[name]
        member.incarnation += 1
        member.receiver = receiver
        now = self._scheduler.now()
        for (a, b), link in self._links.items():
            if a == name or b == name:
                link.since = now

    def detach(self, name: str) -> None:
        """``name`` went down: nothing more reaches it."""
        member = self._members[name]
        member.incarnation += 1
        member.receiver = None

    # --- traffic --------------------------------------------------------------

    def send(self, src: str, dst: str, message: Any) -> None:
        stats = self.stats
        stats.sent += 1
        link = self._links.get((src, dst))
        if link is None or not link.up:
            stats.dropped_partition += 1
            if self.observer is not None:
                self._observe(src, dst, message, None, "partition")
            return
        if (self.loss and self._rng.random() < self.loss) or (
            self.drop is not None and self.drop(src, dst, message)
        ):
            stats.dropped_loss += 1
            if self.observer is not None:
                self._observe(src, dst, message, None, "loss")
            return
        delay = self._sample()
        if link.extra_sample is not None:
            delay += link.extra_sample()
        arrival = self._scheduler.now() + delay
        if link.disorder is not None and type(message) in _RAFT_MESSAGES:
            self._send_disordered(link, message, arrival, link.disorder)
            return
        if arrival < link.last_arrival:
            arrival = link.last_arrival  # FIFO: wait behind the previous message
        link.last_arrival = arrival
        if self.observer is not None:
            self._observe(src, dst, message, arrival, None)
        self._scheduler.call_at(arrival, link.deliver, link.target.incarnation, message)

    def send_all(self, src: str, messages: Iterable[Any]) -> None:
        """``send(src, m.dst, m)`` for each message in order (a node releasing
        one output), with the loop's lookups done once."""
        stats = self.stats
        links = self._links_from.get(src, {})
        sample = self._sample
        sched = self._scheduler
        now = sched.now()  # sending does not move the clock
        observer = self.observer
        for message in messages:
            stats.sent += 1
            link = links.get(message.dst)
            if link is None or not link.up:
                stats.dropped_partition += 1
                if observer is not None:
                    self._observe(src, message.dst, message, None, "partition")
                continue
            if (self.loss and self._rng.random() < self.loss) or (
                self.drop is not None and self.drop(src, message.dst, message)
            ):
                stats.dropped_loss += 1
                if observer is not None:
                    self._observe(src, message.dst, message, None, "loss")
                continue
            delay = sample()
            if link.extra_sample is not None:
                delay += link.extra_sample()
            arrival = now + delay
            if link.disorder is not None and type(message) in _RAFT_MESSAGES:
                self._send_disordered(link, message, arrival, link.disorder)
                continue
            if arrival < link.last_arrival:
                arrival = link.last_arrival
            link.last_arrival = arrival
            if observer is not None:
                self._observe(src, message.dst, message, arrival, None)
            sched.call_at(arrival, link.deliver, link.target.incarnation, message)

    def _send_disordered(self, link: _Link, message: Any, arrival: float, disorder: Disorder) -> None:
        """Send on a link under ``disorder``: maybe outside FIFO order, maybe twice."""
        draw = self._disorder_random
        if draw() < disorder.reorder:
            # not held behind earlier messages, and later ones do not wait for it
            arrival += draw() * disorder.spread
            self.stats.reordered += 1
        else:
            if arrival < link.last_arrival:
                arrival = link.last_arrival
            link.last_arrival = arrival
        if self.observer is not None:
            self._observe(link.src, link.dst, message, arrival, None)
        self._scheduler.call_at(arrival, link.deliver, link.target.incarnation, message)
        if draw() < disorder.duplicate:
            self.stats.duplicated += 1
            again = arrival + draw() * disorder.spread
            if self.observer is not None:
                self._observe(link.src, link.dst, message, again, None)
            self._scheduler.call_at(again, link.deliver, link.target.incarnation, message)

    # --- the message trace level --------------------------------------------------

    def _observe(self, src: str, dst: str, message: Any, arrival: float | None, dropped: str | None) -> None:
        mid = next(self._message_ids)
        if arrival is not None:
            # in flight: the object is alive (the scheduler holds it) until it arrives
            self._in_flight[id(message)] = mid
        assert self.observer is not None
        self.observer(mid, src, dst, message, arrival, dropped)

    def arrived(self, link: _Link, incarnation: int, message: Any) -> None:
        """A message reached the far end of ``link``: tell the observer if it
        is dropped there (cut after it was sent, or the member went down)."""
        mid = self._in_flight.pop(id(message), 0)
        if not mid or self.observer is None:
            return
        target = link.target
        if not link.up:
            self.observer(mid, link.src, link.dst, message, None, "partition")
        elif target.incarnation != incarnation or target.receiver is None:
            self.observer(mid, link.src, link.dst, message, None, "down")

    def sample_latency(self) -> float:
        """One one-way latency draw, for traffic outside the peer links (clients)."""
        return self._sample()

    # --- faults ---------------------------------------------------------------

    def partition(self, groups: Iterable[Iterable[str]]) -> list[list[str]]:
        """Cut every link between different groups; members named in no group
        form one more group. Replaces any earlier partition. Returns the groups."""
        resolved = [sorted(set(g)) for g in groups]
        named = {n for g in resolved for n in g}
        unknown = named - set(self.names)
        if unknown:
            raise ValueError(f"unknown members in partition: {sorted(unknown)}")
        rest = [n for n in self.names if n not in named]
        if rest:
            resolved.append(rest)
        resolved = [g for g in resolved if g]
        self._reconnect()
        for g1, g2 in combinations(resolved, 2):
            self.graph.remove_edges_from((a, b) for a in g1 for b in g2)
        self._sync_reach()
        return resolved

    def delay(self, nodes: Iterable[str], extra: Distribution) -> None:
        """Add ``extra`` to both directions of every link touching ``nodes``
        (replacing an earlier delay on those links)."""
        chosen = set(nodes)
        draw = sampler(extra, self._rng)  # draws nothing until a message is sent
        for (a, b), link in self._links.items():
            if a in chosen or b in chosen:
                link.extra = extra
                link.extra_sample = draw

    def disorder(self, nodes: Iterable[str], disorder: Disorder | None) -> None:
        """Duplicate and reorder Raft messages on both directions of every
        link touching ``nodes`` (None: back to FIFO, exactly once)."""
        chosen = set(nodes)
        for (a, b), link in self._links.items():
            if a in chosen or b in chosen:
                link.disorder = disorder

    def heal(self) -> None:
        """Remove every partition, every added delay and every disorder period
        (the run's own ``NetworkSpec`` disorder stays)."""
        self._reconnect()
        for link in self._links.values():
            link.extra = None
            link.extra_sample = None
            link.disorder = self._base_disorder

    def _reconnect(self) -> None:
        self.graph.add_edges_from(combinations(self.names, 2))
        self._sync_reach()

    def _sync_reach(self) -> None:
        self._reach = {n: set(self.graph.adj[n]) for n in self.names}
        now = self._scheduler.now()
        for (a, b), link in self._links.items():
            up = b in self._reach[a]
            if up and not link.up:
                link.since = now
            link.up = up

    def connected(self, a: str, b: str) -> bool:
        return a == b or b in self._reach[a]

    def active_since(self, src: str, dst: str) -> float | None:
        """When ``src``'s connection to ``dst`` came up, or None if there is
        none now (``dst`` down or cut off): etcd's ``Transport.ActiveSince``,
        which picks the member a stopping leader hands over to."""
        link = self._links[src, dst]
        if not link.up or link.target.receiver is None or self._members[src].receiver is None:
            return None
        return link.since
