"""ClusterView: the cluster as the trace says it is at one moment.

Folding trace events in order gives what a view draws: each member's role,
term, vote, leader, commit/applied index, key count, hash and (on the
simulator's message level) election timer and log; the messages in flight;
the partition in force; the latest client operations; a log of notable
events. ``at(events, t)`` folds a history up to ``t``: time travel is a
fold, never a question to the backend.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from etcdplay.trace import Event

#: Event kinds worth a line in the event log (not status, commit, message, timer;
#: nor the single writes of a load, ``source`` "load").
NOTABLE = frozenset({"role", "vote", "leader", "fault", "client", "load", "check", "note", "step"})


@dataclass
class MemberView:
    name: str
    running: bool = True
    role: str | None = None
    term: int | None = None
    vote: str | None = None  # whom it voted for in ``term`` (as far as the trace says)
    leader: str | None = None
    commit: int | None = None
    applied: int | None = None
    revision: int | None = None
    keys: int | None = None
    hash: str | None = None
    db_size: int | None = None  # live only
    timer_deadline: float | None = None  # simulator message level
    timer_timeout: float | None = None
    log_from: int | None = None
    log_terms: list[list[int]] | None = None
    last_index: int | None = None

    @property
    def shown_role(self) -> str:
        return self.role if self.running and self.role else ("down" if not self.running else "unknown")


@dataclass
class ClusterView:
    nodes: dict[str, MemberView] = field(default_factory=dict)
    t: float = 0.0
    groups: list[list[str]] | None = None  # the partition in force (None: connected)
    delayed: dict[str, str] = field(default_factory=dict)  # member -> added latency
    in_flight: dict[int, Event] = field(default_factory=dict)  # message id -> send event
    recent: deque[Event] = field(default_factory=lambda: deque(maxlen=200))  # notable events
    clients: deque[Event] = field(default_factory=lambda: deque(maxlen=500))  # client results
    writes_ok: int = 0
    writes_failed: int = 0
    header: Event | None = None

    @classmethod
    def of(cls, events: list[Event], until: float | None = None) -> ClusterView:
        """Fold ``events`` (a trace, header first) up to time ``until`` (all by default)."""
        view = cls()
        for event in events:
            if until is not None and event.get("t", 0.0) > until:
                break
            view.apply(event)
        if until is not None:
            view.advance(until)
        return view

    # --- folding --------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        kind = event.get("kind")
        t = float(event.get("t", 0.0))
        if kind == "header":
            self.header = event
            for name in event.get("nodes") or []:
                self.nodes.setdefault(name, MemberView(name))
            return
        self.advance(t)
        node = event.get("node")
        member = self._member(node) if isinstance(node, str) else None
        if kind == "status" and member is not None:
            self._status(member, event)
        elif kind == "role" and member is not None:
            self._role(member, event)
        elif kind == "leader" and member is not None:
            member.leader = event.get("leader")
            if isinstance(event.get("term"), int):
                member.term = event["term"]
        elif kind == "vote" and member is not None:
            if event.get("granted") and not event.get("pre_vote"):
                member.vote = event.get("candidate")
        elif kind == "commit" and member is not None:
            member.commit = event.get("commit", member.commit)
        elif kind == "timer" and member is not None:
            member.timer_deadline = event.get("deadline")
            member.timer_timeout = event.get("timeout")
        elif kind == "message":
            self._message(event)
        elif kind == "fault":
            self._fault(event)
        elif kind == "client":
            self.clients.append(event)
            if event.get("op") == "put":
                if event.get("ok"):
                    self.writes_ok += 1
                else:
                    self.writes_failed += 1
        if kind in NOTABLE and not (kind == "client" and event.get("source") == "load"):
            # a stress run's writes are thousands: they belong to the charts,
            # not the event log (as the page's own live list has them)
            self.recent.append(event)

    def advance(self, t: float) -> None:
        """Time passes: messages that have arrived are no longer in flight."""
        if t < self.t:
            return
        self.t = t
        if self.in_flight:
            gone = [mid for mid, m in self.in_flight.items() if m.get("arrive", t) <= t]
            for mid in gone:
                del self.in_flight[mid]

    def _member(self, name: str) -> MemberView:
        member = self.nodes.get(name)
        if member is None:
            member = self.nodes[name] = MemberView(name)
        return member

    def _status(self, member: MemberView, event: Event) -> None:
        member.running = bool(event.get("running", True))
        for name in ("role", "term", "leader", "commit", "applied", "revision", "keys", "hash", "db_size"):
            if name in event:
                setattr(member, name, event[name])
        for name in ("log_from", "log_terms", "last_index"):
            if name in event:
                setattr(member, name, event[name])

    def _role(self, member: MemberView, event: Event) -> None:
        role = event.get("role")
        previous_term = member.term
        if isinstance(event.get("term"), int):
            member.term = event["term"]
        if member.term != previous_term:
            member.vote = None  # a new term: no vote yet
        if role == "down":
            member.running = False
            member.timer_deadline = None
            return
        member.running = True
        member.role = role
        if role == "leader":
            member.leader = member.name
            member.timer_deadline = None
        elif role in ("candidate",):
            member.vote = member.name

    def _message(self, event: Event) -> None:
        mid = event.get("id")
        if not isinstance(mid, int):
            return
        if "dropped" in event:
            self.in_flight.pop(mid, None)
        elif "arrive" in event:
            self.in_flight[mid] = event

    def _fault(self, event: Event) -> None:
        action = event.get("action")
        if action in ("partition", "isolate"):
            groups = event.get("groups")
            self.groups = [list(g) for g in groups] if isinstance(groups, list) else None
        elif action == "heal":
            self.groups = None
            self.delayed.clear()
        elif action == "delay":
            for name in event.get("nodes") or []:
                self.delayed[name] = str(event.get("latency_ms"))

    # --- what a view asks ------------------------------------------------------------

    def leader(self) -> MemberView | None:
        """The running leader with the highest term."""
        leaders = [m for m in self.nodes.values() if m.running and m.role == "leader"]
        return max(leaders, key=lambda m: (m.term or 0, m.name)) if leaders else None

    def term(self) -> int:
        return max((m.term or 0 for m in self.nodes.values()), default=0)

    def quorum_ok(self) -> bool:
        """A leader that a majority of members (itself included) follow."""
        lead = self.leader()
        if lead is None:
            return False
        following = sum(1 for m in self.nodes.values() if m.running and (m.leader == lead.name or m is lead))
        return following > len(self.nodes) // 2

    def hashes_agree(self) -> bool | None:
        """Whether every running member with a hash at the same applied index
        has the same hash (None when there is nothing to compare)."""
        hashes = {m.hash for m in self.nodes.values() if m.running and m.hash}
        applied = {m.applied for m in self.nodes.values() if m.running and m.hash}
        if len(hashes) <= 1:
            return True if hashes else None
        return False if len(applied) <= 1 else None

    def connected(self, a: str, b: str) -> bool:
        if self.groups is None:
            return True
        for group in self.groups:
            if a in group:
                return b in group
        return True

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot (e.g. for a view that joins late)."""
        lead = self.leader()
        return {
            "t": round(self.t, 6),
            "leader": lead.name if lead else None,
            "term": self.term(),
            "quorum": self.quorum_ok(),
            "hashes_agree": self.hashes_agree(),
            "groups": self.groups,
            "delayed": dict(self.delayed),
            "writes_ok": self.writes_ok,
            "writes_failed": self.writes_failed,
            "nodes": {
                name: {**vars(m), "shown_role": m.shown_role} for name, m in sorted(self.nodes.items())
            },
            "in_flight": list(self.in_flight.values()),
        }
