"""Derived metrics of one run, computed from its trace alone.

Pure functions over a :class:`~etcdplay.trace.Trace`: role spans, fault spans,
leader tenures, elections after faults, unavailability windows, client writes,
status series and the headline numbers a comparison puts side by side. The
report and compare pages are drawn from these, never from a backend, so a
simulated and a live run are measured the same way.

Definitions (also in docs/reports.md):

- an *election after a fault* is the first ``role = leader`` event with a term
  above the leader's term at the fault, before the next disruptive fault
  (crash, stop, partition, isolate, delay). Two times are measured from
  the fault (the same names mean the same in sweeps, simulate, live,
  compare and reports):

  * *election time*: until that ``role = leader`` event (a new leader
    exists);
  * *downtime*: until every member that is up has learned that leader (its
    ``leader`` event naming it; the leader itself counts at its election):
    only then does the whole cluster follow it. ``None`` when the trace has
    no ``leader`` events or someone never learned it before the next fault.

  Time to the first leader at the start is an election time. On a live
  cluster it includes etcd's process start-up (seconds of it); the
  simulator's members start at once, so ``compare`` says so beside it.
  A fault after which the leader keeps its role is recorded as ``kept``
  (both times 0); one after which no leader appears before the next fault,
  as ``unresolved``.
- an *unavailability window* is a time when no leader could accept writes:
  no running node in the leader role, or from a fault until the election it
  caused (an isolated old leader still calls itself leader but cannot commit).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from etcdplay.trace import Event, Trace

#: Faults that can take a leader away; restart and heal undo them.
DISRUPTIVE = frozenset({"crash", "stop", "partition", "isolate", "delay"})
ROLES = ("follower", "pre-candidate", "candidate", "leader", "down")


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of time on one row (a node, or ``"faults"``)."""

    row: str
    start: float
    end: float
    label: str
    term: int | None = None
    detail: str = ""

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class FaultSpan:
    """A fault from its injection until the step that undid it (or the end)."""

    index: int  # 1-based, in order of the trace's fault events
    action: str
    start: float
    end: float
    nodes: tuple[str, ...]
    groups: tuple[tuple[str, ...], ...] = ()
    latency_ms: str | None = None
    undone_by: str | None = None  # "restart", "heal" or None (lasted to the end)

    @property
    def describe(self) -> str:
        """Short human text: ``crash n1``, ``partition n1 | n2,n3``, ``delay n2 (fixed(100))``."""
        groups = " | ".join(",".join(g) for g in self.groups)
        where = groups or ",".join(self.nodes) or "-"
        text = f"{self.action} {where}"
        if self.latency_ms:
            text += f" ({self.latency_ms})"
        return text


@dataclass(frozen=True, slots=True)
class Election:
    """What happened to leadership after one disruptive fault (or the start)."""

    cause: str  # "start" or the fault's description
    fault_index: int  # 0 for the start
    at: float  # time of the fault (0 for the start)
    outcome: str  # "elected", "kept" or "unresolved"
    old_leader: str | None
    old_term: int | None
    new_leader: str | None = None
    new_term: int | None = None
    elected_at: float | None = None
    downtime: float | None = None  # fault -> every member that is up learned the new leader
    election_time: float | None = None  # fault -> new leader took the role
    campaign: float | None = None  # first campaign after the fault -> new leader
    rounds: int = 0  # distinct candidate terms in the window
    pre_votes: int = 0  # pre-candidate transitions in the window

    @property
    def split_votes(self) -> int:
        """Candidate rounds that elected nobody."""
        return max(0, self.rounds - 1) if self.outcome == "elected" else self.rounds


@dataclass(frozen=True, slots=True)
class Series:
    """A numeric time series (already sorted by time)."""

    t: list[float]
    v: list[float]


@dataclass(slots=True)
class Headline:
    """The numbers a comparison puts side by side."""

    label: str
    scenario: str
    backend: str
    seed: Any
    duration: float
    time_to_first_leader: float | None
    failovers: list[Election] = field(default_factory=list)
    leader_changes: int = 0
    max_term: int = 0
    unavailable: float = 0.0
    writes: int = 0
    failed_writes: int = 0
    write_latency_p50: float | None = None
    write_latency_p99: float | None = None
    final_keys: dict[str, int | None] = field(default_factory=dict)
    hashes_converged: bool | None = None
    checks_failed: list[str] = field(default_factory=list)

    @property
    def downtimes(self) -> list[float]:
        return [e.downtime for e in self.failovers if e.downtime is not None]

    @property
    def election_times(self) -> list[float]:
        return [e.election_time for e in self.failovers if e.election_time is not None]


# --- basics ------------------------------------------------------------------


def sorted_events(trace: Trace) -> list[Event]:
    """The events in time order (live traces come from several threads)."""
    events = trace.events
    if all(events[i]["t"] <= events[i + 1]["t"] for i in range(len(events) - 1)):
        return events
    return sorted(events, key=lambda e: float(e["t"]))


def end_time(trace: Trace) -> float:
    """When the run ended: the ``end`` event, else the last event."""
    for event in reversed(trace.events):
        if event["kind"] == "end":
            return float(event.get("duration") or event["t"])
    return max((float(e["t"]) for e in trace.events), default=0.0)


def node_names(trace: Trace) -> list[str]:
    """The header's nodes, plus any others the events mention, in natural order."""
    names = set(trace.nodes)
    names.update(str(e["node"]) for e in trace.events if e.get("node") and e["kind"] != "client")

    def key(name: str) -> tuple[int, str]:
        digits = name.lstrip("n")
        return (int(digits), name) if digits.isdigit() else (1 << 30, name)

    return sorted(names, key=key)


# --- roles, leaders, faults ----------------------------------------------------


def role_spans(trace: Trace) -> list[Span]:
    """Every node's role over time, one span per ``role`` event; nothing is dropped."""
    end = end_time(trace)
    current: dict[str, tuple[float, str, int | None]] = {}
    spans: list[Span] = []
    for event in sorted_events(trace):
        if event["kind"] != "role" or not event.get("node"):
            continue
        node = str(event["node"])
        t = float(event["t"])
        if node in current:
            start, role, term = current[node]
            spans.append(Span(node, start, t, role, term))
        current[node] = (t, str(event.get("role")), _int(event.get("term")))
    for node, (start, role, term) in current.items():
        spans.append(Span(node, start, max(start, end), role, term))
    spans.sort(key=lambda s: (s.start, s.row))
    return spans


def leader_tenures(trace: Trace) -> list[Span]:
    """Each time a node held the leader role: row = node, term = its term."""
    return [s for s in role_spans(trace) if s.label == "leader"]


def fault_spans(trace: Trace) -> list[FaultSpan]:
    """Every fault, closed by the restart (crash/stop) or heal (network) that undid it."""
    end = end_time(trace)
    spans: list[FaultSpan] = []
    open_: list[dict[str, Any]] = []
    index = 0
    for event in sorted_events(trace):
        if event["kind"] != "fault":
            continue
        action = str(event.get("action"))
        t = float(event["t"])
        nodes = tuple(str(n) for n in event.get("nodes") or ())
        if action in DISRUPTIVE:
            index += 1
            groups = tuple(tuple(str(n) for n in g) for g in event.get("groups") or ())
            latency = event.get("latency_ms")
            open_.append(
                {
                    "index": index,
                    "action": action,
                    "start": t,
                    "nodes": nodes,
                    "groups": groups,
                    "latency_ms": str(latency) if latency is not None else None,
                }
            )
            continue
        still: list[dict[str, Any]] = []
        for item in open_:
            network = item["action"] in ("partition", "isolate", "delay")
            closes = (action == "heal" and network) or (
                action == "restart" and not network and (not nodes or set(item["nodes"]) <= set(nodes))
            )
            if closes:
                spans.append(FaultSpan(**item, end=t, undone_by=action))
            else:
                still.append(item)
        open_ = still
    for item in open_:
        spans.append(FaultSpan(**item, end=max(item["start"], end), undone_by=None))
    spans.sort(key=lambda f: f.index)
    return spans


def fault_events(trace: Trace) -> list[Event]:
    """Every fault event, including restart and heal, in time order."""
    return [e for e in sorted_events(trace) if e["kind"] == "fault"]


def _leader_at(roles: dict[str, tuple[str, int | None]]) -> tuple[str | None, int | None]:
    """The leader with the highest term among nodes now in the leader role."""
    best: tuple[str | None, int | None] = (None, None)
    for node, (role, term) in roles.items():
        if role == "leader" and (best[1] is None or (term or 0) > best[1]):
            best = (node, term or 0)
    return best


def elections(trace: Trace) -> list[Election]:
    """The start and every disruptive fault, with the election each led to (if any)."""
    events = sorted_events(trace)
    end = end_time(trace)
    faults = fault_spans(trace)
    triggers: list[tuple[float, int, str]] = [(0.0, 0, "start")]
    triggers += [(f.start, f.index, f.describe) for f in faults]
    role_events = [e for e in events if e["kind"] == "role" and e.get("node")]
    leader_events = [e for e in events if e["kind"] == "leader" and e.get("node")]
    names = node_names(trace)
    times = [float(e["t"]) for e in role_events]
    results: list[Election] = []
    roles: dict[str, tuple[str, int | None]] = {}
    applied = 0  # role events folded into ``roles`` so far
    for number, (at, index, cause) in enumerate(triggers):
        last = number + 1 == len(triggers)
        window_end = end if last else triggers[number + 1][0]
        # the roles just before the trigger: a fault at t comes before events at t
        first = bisect_left(times, at) if index else 0
        while applied < first:
            e = role_events[applied]
            roles[str(e["node"])] = (str(e.get("role")), _int(e.get("term")))
            applied += 1
        old_leader, old_term = _leader_at(roles)
        floor = old_term if old_term is not None else -1
        candidate_terms: set[int] = set()
        pre_votes = 0
        first_campaign: float | None = None
        elected: Event | None = None
        window_roles = dict(roles)
        for e in role_events[first:]:
            t = float(e["t"])
            if t >= window_end and not last:
                break
            role = str(e.get("role"))
            term = _int(e.get("term"))
            window_roles[str(e["node"])] = (role, term)
            if role in ("candidate", "pre-candidate") and first_campaign is None:
                first_campaign = t
            if role == "candidate" and term is not None:
                candidate_terms.add(term)
            elif role == "pre-candidate":
                pre_votes += 1
            elif role == "leader" and (term if term is not None else 0) > floor:
                elected = e
                break
        if elected is not None:
            t = float(elected["t"])
            until = window_end if not last else math.inf
            heard = _all_heard(leader_events, names, window_roles, elected, until)
            results.append(
                Election(
                    cause=cause,
                    fault_index=index,
                    at=at,
                    outcome="elected",
                    old_leader=old_leader,
                    old_term=old_term,
                    new_leader=str(elected["node"]),
                    new_term=_int(elected.get("term")),
                    elected_at=t,
                    downtime=round(heard - at, 6) if heard is not None else None,
                    election_time=round(t - at, 6),
                    campaign=round(t - first_campaign, 6) if first_campaign is not None else None,
                    rounds=len(candidate_terms),
                    pre_votes=pre_votes,
                )
            )
            continue
        leader_now, _ = _leader_at(window_roles)
        kept = old_leader is not None and leader_now == old_leader
        results.append(
            Election(
                cause=cause,
                fault_index=index,
                at=at,
                outcome="kept" if kept else "unresolved",
                old_leader=old_leader,
                old_term=old_term,
                new_leader=old_leader if kept else None,
                new_term=old_term if kept else None,
                downtime=0.0 if kept else None,
                election_time=0.0 if kept else None,
                rounds=len(candidate_terms),
                pre_votes=pre_votes,
            )
        )
    return results


def _all_heard(
    leader_events: list[Event],
    names: list[str],
    roles: dict[str, tuple[str, int | None]],
    elected: Event,
    until: float,
) -> float | None:
    """When the last member that is up (per ``roles`` at the election) learned
    the leader ``elected`` names; None if one did not before ``until``."""
    if not leader_events:
        return None
    winner = str(elected["node"])
    t0 = float(elected["t"])
    up = {n for n in names if roles.get(n, ("follower", None))[0] != "down"}
    up |= {n for n, (role, _) in roles.items() if role != "down"}
    waiting = up - {winner}
    last = t0
    for e in leader_events:
        t = float(e["t"])
        if t >= until:
            break
        node = str(e["node"])
        if t >= t0 - 1e-9 and node in waiting and e.get("leader") == winner:
            waiting.discard(node)
            last = max(last, t)
            if not waiting:
                break
    return None if waiting else last


def leaderless_windows(trace: Trace) -> list[tuple[float, float]]:
    """Times when no node held the leader role (from ``role`` events)."""
    end = end_time(trace)
    roles: dict[str, str] = {}
    windows: list[tuple[float, float]] = []
    since: float | None = 0.0
    for event in sorted_events(trace):
        if event["kind"] != "role" or not event.get("node"):
            continue
        t = float(event["t"])
        roles[str(event["node"])] = str(event.get("role"))
        has_leader = "leader" in roles.values()
        if has_leader and since is not None:
            if t > since:
                windows.append((since, t))
            since = None
        elif not has_leader and since is None:
            since = t
    if since is not None and end > since:
        windows.append((since, end))
    return windows


def unavailability_windows(trace: Trace) -> list[tuple[float, float]]:
    """When no leader could accept writes: leaderless times, and fault-to-election times."""
    end = end_time(trace)
    windows = list(leaderless_windows(trace))
    triggers = elections(trace)
    for number, e in enumerate(triggers):
        if e.fault_index == 0:
            continue
        if e.outcome == "elected" and e.elected_at is not None:
            windows.append((e.at, e.elected_at))
        elif e.outcome == "unresolved":
            nxt = triggers[number + 1].at if number + 1 < len(triggers) else end
            windows.append((e.at, nxt))
    return merge_windows(windows)


def merge_windows(windows: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, stop in sorted(windows):
        if stop <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged


# --- client, status, checks ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Writes:
    """Client writes (puts and deletes): times, latencies, outcome, error text."""

    t: list[float]
    latency: list[float]
    ok: list[bool]
    error: list[str]
    node: list[str]

    @property
    def failed(self) -> int:
        return sum(1 for ok in self.ok if not ok)


def client_writes(trace: Trace) -> Writes:
    """Every finished write; ``t`` is when it finished (the event's time)."""
    t: list[float] = []
    latency: list[float] = []
    ok: list[bool] = []
    error: list[str] = []
    node: list[str] = []
    for event in sorted_events(trace):
        if event["kind"] != "client" or event.get("op") not in ("put", "delete"):
            continue
        t.append(float(event["t"]))
        latency.append(float(event.get("latency") or 0.0))
        ok.append(bool(event.get("ok")))
        error.append(str(event.get("error") or ""))
        node.append(str(event.get("node") or ""))
    return Writes(t, latency, ok, error, node)


def status_series(trace: Trace, name: str) -> dict[str, Series]:
    """One numeric field of ``status`` events per node; unknown values are skipped."""
    out: dict[str, Series] = {}
    for event in sorted_events(trace):
        if event["kind"] != "status" or not event.get("node"):
            continue
        value = event.get(name)
        if value is None or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        series = out.setdefault(str(event["node"]), Series([], []))
        series.t.append(float(event["t"]))
        series.v.append(float(value))
    return out


def term_series(trace: Trace) -> dict[str, Series]:
    """Each node's term over time, from ``role`` events and ``status`` events."""
    out: dict[str, Series] = {}
    for event in sorted_events(trace):
        if event["kind"] not in ("role", "status") or not event.get("node"):
            continue
        term = event.get("term")
        if term is None or isinstance(term, bool):
            continue
        series = out.setdefault(str(event["node"]), Series([], []))
        series.t.append(float(event["t"]))
        series.v.append(float(term))
    return out


def commit_series(trace: Trace) -> dict[str, Series]:
    """Each node's commit index, from ``commit`` (simulator) and ``status`` events."""
    out: dict[str, Series] = {}
    for event in sorted_events(trace):
        if event["kind"] not in ("commit", "status") or not event.get("node"):
            continue
        value = event.get("commit")
        if value is None or isinstance(value, bool):
            continue
        series = out.setdefault(str(event["node"]), Series([], []))
        series.t.append(float(event["t"]))
        series.v.append(float(value))
    return out


def hash_agreement(trace: Trace) -> list[Span]:
    """Per node, spans of ``agree`` / ``differ`` / ``unknown`` / ``down``.

    At each status event the node's hash is compared with the most common hash
    among the latest status of every running node, so "all hashes match after
    recovery" shows as every row turning ``agree``.
    """
    end = end_time(trace)
    scenario = trace.header.get("scenario") or {}
    # status events of one sampling round arrive together (simulator) or within
    # a fraction of the interval (live): judge agreement once per round
    window = float(scenario.get("status_interval") or 0.25) / 2
    latest: dict[str, tuple[bool, str | None]] = {}
    state: dict[str, tuple[float, str, str]] = {}
    spans: list[Span] = []

    def judge(t: float) -> None:
        votes = Counter(h for running, h in latest.values() if running and h is not None)
        majority = votes.most_common(1)[0][0] if votes else None
        for node, (running, h) in latest.items():
            if not running:
                label = "down"
            elif h is None:
                label = "unknown"
            elif h == majority:
                label = "agree"
            else:
                label = "differ"
            previous = state.get(node)
            if previous is None or previous[1] != label:
                if previous is not None and t > previous[0]:
                    spans.append(Span(node, previous[0], t, previous[1], detail=previous[2]))
                state[node] = (t, label, h or "")

    batch_start: float | None = None
    batch: set[str] = set()
    for event in sorted_events(trace):
        if event["kind"] != "status" or not event.get("node"):
            continue
        node = str(event["node"])
        t = float(event["t"])
        if batch_start is not None and (t - batch_start >= window or node in batch):
            judge(batch_start)
            batch_start, batch = None, set()
        if batch_start is None:
            batch_start = t
        batch.add(node)
        hash_ = event.get("hash")
        latest[node] = (bool(event.get("running", True)), str(hash_) if hash_ is not None else None)
    if batch_start is not None:
        judge(batch_start)
    for node, (start, label, detail) in state.items():
        spans.append(Span(node, start, max(start, end), label, detail=detail))
    spans.sort(key=lambda s: (s.start, s.row))
    return spans


def final_status(trace: Trace) -> dict[str, Event]:
    """The last status of every node (the runner's final snapshot when there is one)."""
    last: dict[str, Event] = {}
    for event in sorted_events(trace):
        if event["kind"] == "status" and event.get("node"):
            last[str(event["node"])] = event
        elif event["kind"] == "note" and isinstance(event.get("statuses"), list):
            # the runner's final snapshot: one status per node, after the run settled
            for item in event["statuses"]:
                if isinstance(item, dict) and item.get("node"):
                    last[str(item["node"])] = {"t": event["t"], "kind": "status", **item}
    return last


def checks(trace: Trace) -> list[Event]:
    return [e for e in trace.events if e["kind"] == "check"]


def hashes_converged(trace: Trace) -> bool | None:
    """Whether every running node's final hash is the same; None when unknown."""
    final = final_status(trace)
    hashes = [e.get("hash") for e in final.values() if e.get("running", True)]
    if not hashes or any(h is None for h in hashes):
        return None
    return len(set(hashes)) == 1


def quantile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile by linear interpolation; None for no values."""
    if not values:
        return None
    data = sorted(values)
    pos = (len(data) - 1) * q
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def headline(trace: Trace, label: str | None = None) -> Headline:
    """The run's headline numbers."""
    tenures = leader_tenures(trace)
    found = elections(trace)
    writes = client_writes(trace)
    ok_latency = [lat for lat, ok in zip(writes.latency, writes.ok, strict=True) if ok]
    final = final_status(trace)
    unavailable = sum(b - a for a, b in unavailability_windows(trace))
    terms = [s.term for s in role_spans(trace) if s.term is not None]
    return Headline(
        label=label or trace.source,
        scenario=trace.scenario_name,
        backend=trace.backend,
        seed=trace.seed,
        duration=end_time(trace),
        time_to_first_leader=tenures[0].start if tenures else None,
        failovers=[e for e in found if e.fault_index > 0],
        leader_changes=max(0, len(tenures) - 1),
        max_term=max(terms, default=0),
        unavailable=round(unavailable, 6),
        writes=len(writes.t),
        failed_writes=writes.failed,
        write_latency_p50=quantile(ok_latency, 0.5),
        write_latency_p99=quantile(ok_latency, 0.99),
        final_keys={n: _int(final[n].get("keys")) if n in final else None for n in node_names(trace)},
        hashes_converged=hashes_converged(trace),
        checks_failed=[str(c.get("name")) for c in checks(trace) if not c.get("ok")],
    )


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
