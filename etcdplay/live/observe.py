"""Watching a live cluster: raft events from etcd's own zap JSON log, and
periodic status (leader, term, commit/applied index, revision, key count and
a KV hash at a revision every member has).

Raft events carry etcd's timestamp (``ts``, millisecond resolution, wall
clock), converted to scenario time with the wall clock reading taken when
the run started, so a role change is placed when etcd says it happened, not
when the log was read. The line's ``ts`` is kept as ``etcd_ts``.

Messages understood (identical in etcd 3.4 and 3.5, which both route raft's
logger through zap; 3.5 adds ``"logger":"raft"``):

* ``<id> became follower|pre-candidate|candidate|leader at term <T>``
* ``raft.node: <id> elected leader <id> at term <T>``
* ``raft.node: <id> changed leader from <id> to <id> at term <T>``
* ``raft.node: <id> lost leader <id> at term <T>``
* ``<id> [logterm: .., index: .., vote: ..] cast|rejected|ignored MsgVote|MsgPreVote
  for|from <id> [logterm: .., index: ..] at term <T>``
* ``starting local member`` (``local-member-id``) and ``added member``
  (``added-peer-id``, ``added-peer-peer-urls``): who is who.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from etcdplay.backend import NodeStatus
from etcdplay.live.client import ClientError, MemberClient
from etcdplay.live.etcd import Member

_ID = r"([0-9a-f]+)"
_ROLE = re.compile(rf"^{_ID} became (follower|pre-candidate|candidate|leader) at term (\d+)")
_ELECTED = re.compile(rf"^raft\.node: {_ID} elected leader {_ID} at term (\d+)")
_CHANGED = re.compile(rf"^raft\.node: {_ID} changed leader from {_ID} to {_ID} at term (\d+)")
_LOST = re.compile(rf"^raft\.node: {_ID} lost leader {_ID} at term (\d+)")
_VOTE = re.compile(
    rf"^{_ID} \[logterm: \d+, index: \d+, vote: [0-9a-f]+\] (cast|rejected|ignored) "
    rf"(MsgPreVote|MsgVote) (?:for|from) {_ID} \[logterm: \d+, index: \d+\] at term (\d+)"
)


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One raft event read from a log line. Member ids are hex strings."""

    kind: str  # role | leader | vote | member-id | peer
    ts: float | None  # etcd's wall clock (epoch seconds)
    etcd_ts: str | None
    fields: dict[str, Any] = field(default_factory=dict)


def _parse_ts(text: Any) -> float | None:
    if isinstance(text, int | float):
        return float(text)
    if not isinstance(text, str):
        return None
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(text).timestamp()
    return None


def parse_line(line: str) -> LogEvent | None:
    """The raft event in one zap JSON log line, or None."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    msg = record.get("msg")
    if not isinstance(msg, str):
        return None
    raw_ts = record.get("ts")
    ts, etcd_ts = _parse_ts(raw_ts), (raw_ts if isinstance(raw_ts, str) else None)
    if m := _ROLE.match(msg):
        return LogEvent("role", ts, etcd_ts, {"id": m.group(1), "role": m.group(2), "term": int(m.group(3))})
    if m := _ELECTED.match(msg):
        return LogEvent(
            "leader", ts, etcd_ts, {"id": m.group(1), "leader": m.group(2), "term": int(m.group(3))}
        )
    if m := _CHANGED.match(msg):
        return LogEvent(
            "leader", ts, etcd_ts, {"id": m.group(1), "leader": m.group(3), "term": int(m.group(4))}
        )
    if m := _LOST.match(msg):
        return LogEvent("leader", ts, etcd_ts, {"id": m.group(1), "leader": None, "term": int(m.group(3))})
    if m := _VOTE.match(msg):
        return LogEvent(
            "vote",
            ts,
            etcd_ts,
            {
                "id": m.group(1),
                "granted": m.group(2) == "cast",
                "ignored": m.group(2) == "ignored",
                "pre_vote": m.group(3) == "MsgPreVote",
                "candidate": m.group(4),
                "term": int(m.group(5)),
            },
        )
    if msg == "starting local member" and isinstance(record.get("local-member-id"), str):
        return LogEvent("member-id", ts, etcd_ts, {"id": record["local-member-id"]})
    if msg == "added member" and isinstance(record.get("added-peer-id"), str):
        urls = record.get("added-peer-peer-urls") or []
        return LogEvent("peer", ts, etcd_ts, {"id": record["added-peer-id"], "urls": list(urls)})
    return None


class LogFollower:
    """Tails every member's log in one thread and hands parsed events on.

    Logs are files the members write themselves (etcd never blocks on us);
    the follower polls them every ``interval`` seconds.
    """

    def __init__(
        self,
        members: Sequence[Member],
        on_event: Callable[[str, LogEvent], None],
        interval: float = 0.02,
    ) -> None:
        self._members = list(members)
        self._on_event = on_event
        self._interval = interval
        self._offsets = {m.name: 0 for m in self._members}
        self._partial = {m.name: b"" for m in self._members}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="etcdplay-logs", daemon=True)
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self.poll()  # the last lines, so nothing etcd logged is missed

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            with contextlib.suppress(Exception):
                self.poll()

    def poll(self) -> None:
        with self._lock:
            for member in self._members:
                data, self._offsets[member.name] = member.read_log(self._offsets[member.name])
                if not data:
                    continue
                data = self._partial[member.name] + data
                lines = data.split(b"\n")
                self._partial[member.name] = lines.pop()
                for raw in lines:
                    event = parse_line(raw.decode("utf-8", "replace"))
                    if event is not None:
                        self._on_event(member.name, event)


# --- status -------------------------------------------------------------------


@dataclass(slots=True)
class _Probe:
    running: bool
    status: Any = None  # client.MemberStatus
    keys: int | None = None
    revision: int | None = None
    error: str | None = None


def poll_status(
    members: Sequence[Member],
    clients: dict[str, MemberClient],
    names_by_id: dict[int, str],
    roles: dict[str, str],
    terms: dict[str, int],
    pool: ThreadPoolExecutor,
    timeout: float,
    with_hash: bool = True,
) -> tuple[list[NodeStatus], int | None]:
    """Every member's status, asked in parallel; the KV hash is taken at the
    smallest revision any reachable member has, so hashes compare. Returns the
    statuses and that revision."""

    def probe(member: Member) -> _Probe:
        if not member.running:
            return _Probe(running=False)
        client = clients[member.name]
        try:
            status = client.status(timeout)
            keys, revision = client.key_count(timeout)
        except ClientError as exc:
            return _Probe(running=True, error=str(exc))
        return _Probe(running=True, status=status, keys=keys, revision=revision)

    probes = list(pool.map(probe, members))
    revisions = [p.revision for p in probes if p.revision is not None]
    common = min(revisions) if revisions else None
    hashes: list[str | None] = [None] * len(members)
    if with_hash and common is not None:

        def hash_of(pair: tuple[Member, _Probe]) -> str | None:
            member, p = pair
            if p.revision is None:
                return None
            try:
                value, _compact = clients[member.name].hash_kv(common, timeout)
            except ClientError:
                return None
            return f"{value:08x}"

        hashes = list(pool.map(hash_of, zip(members, probes, strict=True)))

    out: list[NodeStatus] = []
    for member, p, digest in zip(members, probes, hashes, strict=True):
        if not p.running:
            out.append(NodeStatus(name=member.name, running=False, role="down"))
            continue
        s = p.status
        if s is None:
            out.append(NodeStatus(name=member.name, running=True, role=roles.get(member.name)))
            continue
        names_by_id.setdefault(s.member_id, member.name)
        leader = names_by_id.get(s.leader_id) if s.leader_id else None
        if leader == member.name:
            role = "leader"
        else:
            role = roles.get(member.name) or "follower"
            if role in ("leader", "down"):  # deposed, or restarted and not yet logging
                role = "follower"
        out.append(
            NodeStatus(
                name=member.name,
                running=True,
                role=role,
                # etcd's Status reports the term of the last *applied* entry; a
                # candidate's current term is only in its log ("became ... at term").
                term=max(s.term, terms.get(member.name, 0)),
                leader=leader,
                commit=s.commit,
                applied=s.applied,
                revision=p.revision,
                keys=p.keys,
                hash=digest,
                db_size=s.db_size,
            )
        )
    return out, common
