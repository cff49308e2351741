"""The trace: every event of a run as JSON Lines, the contract between the
backends and everything that reads runs (checks, reports, comparison, sweeps,
the web and terminal views).

One event per line. Every event has ``t`` (seconds since scenario start),
``kind`` and, when it concerns one node, ``node``. The first line is a header
(``kind == "header"``) with the schema version, scenario, seed and backend.
The format is documented in docs/trace-format.md.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from etcdplay.nesting import nesting_message, too_deep
from etcdplay.trace_schema import problem

SCHEMA_VERSION = 1

#: Event kinds defined by schema version 1 (docs/trace-format.md).
KINDS = frozenset(
    {
        "header",  # first line: schema, scenario, seed, backend, nodes
        "step",  # the runner begins a scenario step
        "role",  # a node's role/term changed: role, term
        "vote",  # a vote (or pre-vote) was granted or refused: candidate, term, granted, pre_vote
        "leader",  # a node learned who leads: leader (or null), term
        "commit",  # a node's commit index advanced (simulator only): commit
        "fault",  # a fault was injected or removed: action, selector, nodes, ...
        "client",  # a client operation finished: op, key, ok, latency, error
        "load",  # a load generator started or finished: phase, rate, duration, ...
        "workload",  # a workload step started or finished: phase, clients, ...; at end sent/acked/failed
        "status",  # periodic per-node status: running, role, term, leader, commit, ...
        "check",  # a check result: name, ok, detail, nodes
        "message",  # simulator, message level only: a peer message sent or dropped
        "timer",  # simulator, message level only: a node's election timer (re)armed
        "note",  # free text from the runner or a backend
        "end",  # last line: the run is over
    }
)

Event = dict[str, Any]
Subscriber = Callable[[Event], None]


class TraceError(ValueError):
    """A trace file that cannot be read; the message names the file and line."""


def _clean_time(t: float) -> float:
    # Microsecond resolution keeps traces byte-identical across platforms while
    # staying far finer than anything Raft or etcd does.
    return round(float(t), 6)


def encode(event: Event) -> str:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class TraceWriter:
    """Collects events, writes them as JSON Lines and tells subscribers.

    Thread-safe: the live backend emits from poller threads while the runner
    emits from its own thread. Events are kept in memory (``events``) unless
    ``keep=False``, which long sweeps use to keep memory flat; ``keep_kinds``
    keeps only events of those kinds (lean runs keep what their checks read).
    """

    def __init__(
        self,
        header: dict[str, Any],
        sink: IO[str] | None = None,
        *,
        keep: bool = True,
        keep_kinds: frozenset[str] | None = None,
    ) -> None:
        self._sink = sink
        self._keep = keep
        self._keep_kinds = keep_kinds
        self._lock = threading.RLock()
        self._subscribers: list[Subscriber] = []
        # A snapshot of _subscribers taken under the lock at each change, so
        # writing an event need not copy the list.
        self._notify: tuple[Subscriber, ...] = ()
        self.events: list[Event] = []
        # "end" is the last line of every trace: the live backend's pollers
        # and log readers run on threads until the backend closes, and an
        # event of theirs that lands after "end" is dropped, not written.
        self._ended = False
        self.header: Event = {"t": 0.0, "kind": "header", "schema": SCHEMA_VERSION, **header}
        self._write(self.header)

    def emit(self, t: float, kind: str, node: str | None = None, **fields: Any) -> Event:
        """Record one event; ``t`` is seconds since scenario start."""
        if kind not in KINDS:
            raise ValueError(f"unknown trace event kind {kind!r}")
        event: Event = {"t": _clean_time(t), "kind": kind}
        if node is not None:
            event["node"] = node
        event.update(fields)
        self._write(event)
        return event

    def emit_fields(self, t: float, kind: str, node: str | None, fields: dict[str, Any]) -> Event:
        """``emit`` with the fields as one dict (not copied into keywords):
        the same event, for the simulator's hot path."""
        if kind not in KINDS:
            raise ValueError(f"unknown trace event kind {kind!r}")
        event: Event = {"t": round(float(t), 6), "kind": kind}
        if node is not None:
            event["node"] = node
        event.update(fields)
        self._write(event)
        return event

    def _write(self, event: Event) -> None:
        with self._lock:
            if self._ended:
                return
            self._ended = event["kind"] == "end"
            if self._keep and (self._keep_kinds is None or event["kind"] in self._keep_kinds):
                self.events.append(event)
            if self._sink is not None:
                self._sink.write(encode(event))
                self._sink.write("\n")
            subscribers = self._notify
        for callback in subscribers:
            callback(event)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` with every later event; returns an unsubscribe function."""
        with self._lock:
            self._subscribers.append(callback)
            self._notify = tuple(self._subscribers)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)
                    self._notify = tuple(self._subscribers)

        return unsubscribe

    def flush(self) -> None:
        with self._lock:
            if self._sink is not None:
                self._sink.flush()


@dataclass
class Trace:
    """A trace read back from a file (or taken from a writer)."""

    header: Event
    events: list[Event] = field(default_factory=list)
    source: str = "<memory>"

    @property
    def backend(self) -> str:
        return str(self.header.get("backend", "?"))

    @property
    def seed(self) -> Any:
        return self.header.get("seed")

    @property
    def scenario_name(self) -> str:
        scenario = self.header.get("scenario") or {}
        return str(scenario.get("name", "?"))

    @property
    def nodes(self) -> list[str]:
        return list(self.header.get("nodes", []))

    def of_kind(self, *kinds: str) -> Iterator[Event]:
        wanted = set(kinds)
        return (e for e in self.events if e["kind"] in wanted)

    @classmethod
    def from_writer(cls, writer: TraceWriter) -> Trace:
        return cls(header=writer.header, events=sorted(writer.events[1:], key=_time_of))


def iter_lines(lines: Iterable[str], source: str) -> Iterator[Event]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TraceError(f"{source}:{number}: not JSON ({exc.msg})") from None
        except RecursionError:
            raise TraceError(f"{source}:{number}: {nesting_message()}") from None
        if too_deep(event):
            raise TraceError(f"{source}:{number}: {nesting_message()}")
        if not isinstance(event, dict) or "kind" not in event or "t" not in event:
            raise TraceError(f"{source}:{number}: not a trace event (needs 't' and 'kind')")
        t = event["t"]
        if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
            raise TraceError(f"{source}:{number}: 't' must be a finite number of seconds, got {t!r}")
        trouble = problem(event)
        if trouble is not None:
            raise TraceError(f"{source}:{number}: {trouble}")
        yield event


def read_trace(path: str | Path) -> Trace:
    """Read a JSON Lines trace; raises TraceError with file and line on bad input."""
    source = str(path)
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise TraceError(f"{source}: no such trace file") from None
    except IsADirectoryError:
        raise TraceError(f"{source}: is a directory, not a trace file") from None
    except OSError as exc:
        raise TraceError(f"{source}: cannot read ({exc.strerror or exc})") from None
    try:
        with handle:
            header, body = _read_events(handle, source)
    except UnicodeDecodeError:
        raise TraceError(f"{source}: not a text file") from None
    except OSError as exc:
        raise TraceError(f"{source}: cannot read ({exc.strerror or exc})") from None
    # Live backends read etcd's logs a little after the fact, so events can
    # reach the file slightly out of time order; readers want them in order.
    body.sort(key=_time_of)
    return Trace(header=header, events=body, source=source)


def _read_events(handle: Iterable[str], source: str) -> tuple[Event, list[Event]]:
    events = iter_lines(handle, source)
    try:
        header = next(events)
    except StopIteration:
        raise TraceError(f"{source}: empty file, not a trace") from None
    if header.get("kind") != "header":
        raise TraceError(f"{source}:1: the first line of a trace must be its header")
    schema = header.get("schema")
    if schema != SCHEMA_VERSION:
        raise TraceError(
            f"{source}: trace schema {schema!r} is not supported "
            f"(this etcdplay reads schema {SCHEMA_VERSION})"
        )
    return header, list(events)


def _time_of(event: Event) -> float:
    return float(event["t"])
