"""Numbers derived from a trace: leaders and their tenures, elections after
faults, windows without a leader, the final state of each node.

Pure functions of a ``Trace``, shared by the run summary, reports, comparison
and sweeps, so every view counts an election the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from etcdplay.trace import Event, Trace

#: Faults after which a new election may follow.
DISRUPTIVE = frozenset({"crash", "stop", "isolate", "partition", "delay"})


@dataclass(frozen=True)
class Tenure:
    node: str
    term: int
    start: float
    end: float  # when it stopped leading, or the end of the trace

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Election:
    """The first new leader after a fault (or after start, for the first election)."""

    cause: str  # "start" or the fault's action, e.g. "crash n3"
    at: float  # when the fault (or the run) began
    elected_at: float | None  # when a node became leader in a newer term
    leader: str | None
    term: int | None
    rounds: int  # terms campaigned in before one won (1 = no split vote)

    @property
    def duration(self) -> float | None:
        return None if self.elected_at is None else self.elected_at - self.at


def end_time(trace: Trace) -> float:
    return max((float(e["t"]) for e in trace.events), default=0.0)


def tenures(trace: Trace) -> list[Tenure]:
    """Each period a node spent as leader, in order of start."""
    open_: dict[str, tuple[int, float]] = {}
    done: list[Tenure] = []
    for e in trace.of_kind("role"):
        node, t = e["node"], float(e["t"])
        if node in open_:
            term, start = open_.pop(node)
            done.append(Tenure(node, term, start, t))
        if e.get("role") == "leader":
            open_[node] = (int(e["term"]), t)
    end = end_time(trace)
    done.extend(Tenure(node, term, start, end) for node, (term, start) in open_.items())
    return sorted(done, key=lambda x: (x.start, x.node))


def _fault_label(e: Event) -> str:
    nodes = e.get("nodes") or []
    return f"{e.get('action')} {','.join(nodes)}".strip()


def elections(trace: Trace) -> list[Election]:
    """The first election, then one entry per disruptive fault that was followed
    by a new leader (in a term above the one in force at the fault) before the
    next disruptive fault. Faults the leader survived are left out."""
    events = trace.events
    leader_events = [e for e in events if e["kind"] == "role" and e.get("role") == "leader"]
    candidate_terms = [
        (float(e["t"]), int(e["term"]))
        for e in events
        if e["kind"] == "role" and e.get("role") == "candidate"
    ]
    faults = [e for e in events if e["kind"] == "fault" and e.get("action") in DISRUPTIVE]
    results: list[Election] = []

    def first_leader_after(t: float, term_above: int, until: float) -> Event | None:
        for e in leader_events:
            if t <= float(e["t"]) < until and int(e["term"]) > term_above:
                return e
        return None

    def rounds(t0: float, t1: float, term_above: int) -> int:
        terms = {term for (t, term) in candidate_terms if t0 <= t <= t1 and term > term_above}
        return max(1, len(terms))

    boundaries = [float(f["t"]) for f in faults] + [float("inf")]
    first = first_leader_after(0.0, 0, boundaries[0] if faults else float("inf"))
    if first is not None:
        results.append(
            Election(
                "start",
                0.0,
                float(first["t"]),
                first["node"],
                int(first["term"]),
                rounds(0.0, float(first["t"]), 0),
            )
        )
    for i, fault in enumerate(faults):
        t = float(fault["t"])
        term_now = max((int(e["term"]) for e in leader_events if float(e["t"]) <= t), default=0)
        leader_now = _leader_at(leader_events, t)
        won = first_leader_after(t, term_now, boundaries[i + 1])
        if won is None:
            if leader_now is not None and leader_now in (fault.get("nodes") or []):
                results.append(Election(_fault_label(fault), t, None, None, None, 0))
            continue
        results.append(
            Election(
                _fault_label(fault),
                t,
                float(won["t"]),
                won["node"],
                int(won["term"]),
                rounds(t, float(won["t"]), term_now),
            )
        )
    return results


def _leader_at(leader_events: list[Event], t: float) -> str | None:
    latest: Event | None = None
    for e in leader_events:
        if float(e["t"]) <= t and (latest is None or int(e["term"]) >= int(latest["term"])):
            latest = e
    return None if latest is None else str(latest["node"])


def leaderless_windows(trace: Trace) -> list[tuple[float, float]]:
    """Intervals when no running node was leader (from role events)."""
    roles: dict[str, str] = {}
    windows: list[tuple[float, float]] = []
    start: float | None = 0.0
    for e in trace.of_kind("role"):
        roles[e["node"]] = e.get("role", "")
        has_leader = any(r == "leader" for r in roles.values())
        t = float(e["t"])
        if has_leader and start is not None:
            if t > start:
                windows.append((start, t))
            start = None
        elif not has_leader and start is None:
            start = t
    if start is not None:
        end = end_time(trace)
        if end > start:
            windows.append((start, end))
    return windows


def final_status(trace: Trace) -> dict[str, dict[str, Any]]:
    """The last status of each node (the runner's final snapshot when present)."""
    latest: dict[str, dict[str, Any]] = {}
    for e in trace.events:
        if e["kind"] == "status":
            latest[e["node"]] = {k: v for k, v in e.items() if k not in ("t", "kind")}
        elif e["kind"] == "note" and e.get("statuses"):
            for s in e["statuses"]:
                latest[s["node"]] = dict(s)
    return latest


def client_summary(trace: Trace) -> dict[str, Any]:
    """Counts and latency quantiles of client operations."""
    lat = sorted(float(e["latency"]) for e in trace.of_kind("client") if e.get("ok"))
    failed = sum(1 for e in trace.of_kind("client") if not e.get("ok"))

    def q(p: float) -> float | None:
        return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else None

    return {"ok": len(lat), "failed": failed, "p50": q(0.5), "p99": q(0.99), "max": lat[-1] if lat else None}


def checks(trace: Trace) -> list[Event]:
    return list(trace.of_kind("check"))
