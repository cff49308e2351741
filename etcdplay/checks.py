"""Checks computed from a trace (and, for lost writes, one final read).

These are the checks both backends share. The five Raft safety properties need
every node's log, so only the simulator checks them (``etcdplay.sim.safety``);
their results reach the trace as ``check`` events like these.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from etcdplay.trace import Event


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str = ""
    nodes: tuple[str, ...] = ()
    at: float | None = None  # when the violation was seen
    skipped: bool = False

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "nodes": list(self.nodes),
        }
        if self.at is not None:
            out["at"] = round(self.at, 6)
        if self.skipped:
            out["skipped"] = True
        return out


def one_leader_per_term(events: Iterable[Event]) -> CheckResult:
    """Election Safety as seen from outside: no two nodes lead in the same term."""
    leaders: dict[int, str] = {}
    for e in events:
        if e["kind"] != "role" or e.get("role") != "leader":
            continue
        term, node = int(e["term"]), str(e["node"])
        first = leaders.setdefault(term, node)
        if first != node:
            return CheckResult(
                "one-leader-per-term",
                False,
                f"term {term} has two leaders: {first} and {node}",
                (first, node),
                float(e["t"]),
            )
    return CheckResult("one-leader-per-term", True, f"{len(leaders)} term(s) with a leader, one each")


def no_acked_write_lost(events: Iterable[Event], final: dict[str, str] | None) -> CheckResult:
    """Every acknowledged put is still readable at the end.

    A put or delete of the same key that could have taken effect after it (an
    acknowledged one that overlapped it in time or began after it, or an
    unacknowledged one, which may still have been applied) may legally have
    replaced it: such keys need only hold one of the values that could be
    last, or may be absent after such a delete. (Completion order is not
    the order writes took effect: two writes in flight together are
    acknowledged in either order.) Puts recorded without a value are checked
    for presence only. ``final_values`` checks the values of every key.
    """
    name = "no-acked-write-lost"
    writes, _ = _writes_by_key(events, presence=True)
    acked_puts = sum(1 for ws in writes.values() for w in ws if w.completed is not None and w.is_put)
    if acked_puts == 0:
        return CheckResult(name, True, "no acknowledged writes to verify", skipped=True)
    if final is None:
        return CheckResult(name, False, "the final read failed: no leader could serve it")
    lost: list[str] = []
    wrong: list[str] = []
    first: float | None = None
    for key, ws in writes.items():
        acked_put_times = [w.completed for w in ws if w.completed is not None and w.is_put]
        if not acked_put_times:
            continue
        possible = _possible_last(ws)
        if key not in final:
            if None not in possible:
                lost.append(key)
        elif all(w.value != UNKNOWN for w in ws if w.is_put) and final[key] not in possible:
            wrong.append(key)
        else:
            continue
        at = min(acked_put_times)
        first = at if first is None or at < first else first
    if lost or wrong:
        shown = ", ".join((lost + wrong)[:5])
        return CheckResult(
            name,
            False,
            f"{len(lost)} acknowledged write(s) missing and {len(wrong)} with a wrong value "
            f"at the end (e.g. {shown})",
            at=first,
        )
    return CheckResult(name, True, f"all {acked_puts} acknowledged writes readable at the end")


def convergence(statuses: Sequence[dict[str, Any]]) -> CheckResult:
    """Every running member at the end has the same revision, key count and hash."""
    name = "convergence"
    running = [s for s in statuses if s.get("running")]
    if not running:
        return CheckResult(name, False, "no member is running at the end")
    unknown = [s["node"] for s in running if s.get("hash") is None or s.get("keys") is None]
    if unknown:
        return CheckResult(name, False, f"no status from {', '.join(unknown)}", tuple(unknown))
    groups: dict[tuple[Any, Any, Any], list[str]] = {}
    for s in running:
        groups.setdefault((s.get("revision"), s.get("keys"), s.get("hash")), []).append(s["node"])
    if len(groups) == 1:
        ((rev, keys, digest),) = groups
        return CheckResult(
            name,
            True,
            f"{len(running)} running member(s) agree: revision {rev}, {keys} keys, hash {digest}",
            tuple(s["node"] for s in running),
        )
    parts = [f"{'/'.join(nodes)}: rev {k[0]} keys {k[1]} hash {k[2]}" for k, nodes in groups.items()]
    return CheckResult(
        name, False, "members disagree: " + "; ".join(parts), tuple(s["node"] for s in running)
    )


#: The value of a put recorded without one (presence is still known).
UNKNOWN = "\x00unknown value"


@dataclass
class _Write:
    invoked: float
    completed: float | None  # None: not acknowledged (it may still apply, at any time)
    value: str | None  # None: a delete; UNKNOWN: a put whose value was not recorded
    is_put: bool


def _writes_by_key(events: Iterable[Event], *, presence: bool) -> tuple[dict[str, list[_Write]], int]:
    """Every put and delete by key, with its invocation (``t - latency``)
    and, if acknowledged, completion time; and how many were acknowledged.
    Without ``presence``, puts recorded without a value are left out."""
    writes: dict[str, list[_Write]] = {}
    acked = 0
    for e in events:
        if e["kind"] != "client" or e.get("op") not in ("put", "delete"):
            continue
        t = float(e["t"])
        ok = bool(e.get("ok"))
        is_put = e["op"] == "put"
        value = e.get("value") if is_put else None
        if is_put and value is None and not presence:
            continue
        w = _Write(
            t - float(e.get("latency") or 0.0),
            t if ok else None,
            (UNKNOWN if is_put else None) if value is None else str(value),
            is_put,
        )
        acked += ok
        writes.setdefault(str(e["key"]), []).append(w)
    return writes, acked


def _possible_last(ws: list[_Write]) -> set[str | None]:
    """The values a key may hold after these writes (None: absent). A write W
    cannot be last when an acknowledged write began after W was acknowledged;
    an unacknowledged write can always be last; before any write, absent."""
    last_acked_invoke = max((w.invoked for w in ws if w.completed is not None), default=None)
    if last_acked_invoke is None:
        return {None, *(w.value for w in ws)}
    return {w.value for w in ws if w.completed is None or w.completed >= last_acked_invoke}


def final_values(
    events: Iterable[Event], final: dict[str, str] | None, *, partitioned: bool = False, slack: float = 0.0
) -> CheckResult:
    """Each key's final value is one that a write could have left last.

    Values of overwrites and deletes are checked, not only presence. A write
    W (a put of a value, or a delete: no value) can be last unless an
    acknowledged write W' was *invoked after W was acknowledged*: W' then
    took effect after W, and W cannot be last. An unacknowledged write may
    take effect at any time after it was invoked, so it can always be last;
    before any write the key is absent. This is the final-read case of
    linearizability, per key, in O(writes).

    ``slack`` (seconds) widens "after" for clocks read a little late (live).
    Client events give the completion time ``t`` and ``latency``; the
    invocation is ``t - latency``.
    """
    name = "final-values"
    writes, acked = _writes_by_key(events, presence=False)
    if acked == 0:
        return CheckResult(name, True, "no acknowledged writes to verify", skipped=True)
    if final is None:
        if partitioned:
            return CheckResult(name, True, "skipped: the network is partitioned at the end", skipped=True)
        return CheckResult(name, False, "the final read failed: no leader could serve it")
    wrong: list[str] = []
    first_at: float | None = None
    for key, ws in writes.items():
        if slack:
            ws = [_Write(w.invoked - slack, w.completed, w.value, w.is_put) for w in ws]
        possible = _possible_last(ws)
        got = final.get(key)
        if got not in possible:
            wrong.append(
                f"{key}={got!r} (possible: {', '.join(sorted(repr(v) for v in possible if v is not None))}"
                f"{' or absent' if None in possible else ''})"
            )
            acked_done = [w.completed for w in ws if w.completed is not None]
            at = max(acked_done) if acked_done else None
            if at is not None and (first_at is None or at < first_at):
                first_at = at
    if wrong:
        return CheckResult(
            name,
            False,
            f"{len(wrong)} key(s) end with a value no write order allows: " + "; ".join(wrong[:3]),
            at=first_at,
        )
    return CheckResult(name, True, f"{len(writes)} key(s) end with a value their writes allow")
