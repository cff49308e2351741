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
    # the few client operations a violation comes down to (linearizable), one line each
    operations: tuple[str, ...] = ()
    # set when the failure carries a known etcd bug's signature (etcdplay.known_bugs)
    known_bug: str = ""

    def __reduce__(self) -> tuple[Any, ...]:
        # copy and pickle rebuild it through __init__: compiled with the
        # simulator core (mypyc), a frozen dataclass refuses the attribute
        # writes they would otherwise make
        return (
            CheckResult,
            (
                self.name,
                self.ok,
                self.detail,
                self.nodes,
                self.at,
                self.skipped,
                self.operations,
                self.known_bug,
            ),
        )

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
        if self.operations:
            out["operations"] = list(self.operations)
        if self.known_bug:
            out["known_bug"] = self.known_bug
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


#: The value of a put recorded without one (presence is still known).
UNKNOWN = "\x00unknown value"


@dataclass
class _Write:
    op: str  # put | delete (a txn whose compare held, or may have, is a put)
    value: str | None  # None: a delete; UNKNOWN: a put recorded without its value
    invoked: float
    completed: float  # inf: unacknowledged (it may apply at any time after invoked, or never)

    @property
    def acked(self) -> bool:
        return self.completed != float("inf")


def _writes(events: Iterable[Event]) -> dict[str, list[_Write]]:
    """Every write per key, in one model for the write-order checks below.

    A txn (compare-and-put) that was answered is a put when its compare held
    and nothing when it did not; one with no answer may have put its value
    or not, which is exactly an unacknowledged put."""
    writes: dict[str, list[_Write]] = {}
    for e in events:
        if e["kind"] != "client" or e.get("op") not in ("put", "delete", "txn"):
            continue
        op, ok = str(e["op"]), bool(e.get("ok"))
        t = float(e["t"])
        invoked = float(e["invoked"]) if e.get("invoked") is not None else t - float(e.get("latency") or 0)
        if op == "txn":
            if ok and not e.get("succeeded"):
                continue  # its compare failed: it wrote nothing
            op = "put"
        value = e.get("value")
        recorded = None if op == "delete" else UNKNOWN if value is None else str(value)
        writes.setdefault(str(e["key"]), []).append(_Write(op, recorded, invoked, t if ok else float("inf")))
    return writes


def no_acked_write_lost(events: Iterable[Event], final: dict[str, str] | None) -> CheckResult:
    """Every acknowledged write is still there at the end, deletes included.

    The last write to a key may be any write not followed in real time by an
    acknowledged one (concurrent writes may apply in either order, and an
    unacknowledged one may still have been applied). The key must hold one of
    those writes' values, or be absent if one of them is a delete.
    """
    name = "no-acked-write-lost"
    writes = _writes(events)
    acked = sum(1 for ws in writes.values() for w in ws if w.acked and w.op == "put")
    if not any(w.acked for ws in writes.values() for w in ws):
        return CheckResult(name, True, "no acknowledged writes to verify", skipped=True)
    if final is None:
        return CheckResult(name, False, "the final read failed: no leader could serve it")
    lost: list[str] = []
    wrong: list[str] = []
    first: list[float] = []
    for key, ws in writes.items():
        done = [w for w in ws if w.acked]
        if not done:
            continue
        latest_start = max(w.invoked for w in done)
        last = [w for w in ws if w.completed >= latest_start]
        may_be_absent = any(w.op == "delete" for w in last)
        allowed = {w.value for w in last if w.op == "put"}
        when = max(w.completed for w in done)
        if key not in final:
            if not may_be_absent:
                lost.append(key)
                first.append(when)
        elif UNKNOWN not in allowed and final[key] not in allowed:
            wrong.append(key)
            first.append(when)
    if lost or wrong:
        shown = ", ".join((lost + wrong)[:5])
        return CheckResult(
            name,
            False,
            f"{len(lost)} acknowledged write(s) missing and {len(wrong)} with a wrong value "
            f"at the end (e.g. {shown})",
            at=min(first),
        )
    deletes = sum(1 for ws in writes.values() for w in ws if w.acked and w.op == "delete")
    extra = f" and {deletes} delete(s)" if deletes else ""
    return CheckResult(name, True, f"all {acked} acknowledged writes{extra} hold at the end")


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


def _possible_last(ws: list[_Write]) -> set[str | None]:
    """The values a key may hold after these writes (None: absent). A write W
    cannot be last when an acknowledged write began after W was acknowledged;
    an unacknowledged write can always be last; before any write, absent."""
    last_acked_invoke = max((w.invoked for w in ws if w.acked), default=None)
    if last_acked_invoke is None:
        return {None, *(w.value for w in ws)}
    return {w.value for w in ws if w.completed >= last_acked_invoke}


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
    # puts recorded without their value say nothing about the final value
    writes = {
        key: ws
        for key, ws in ((k, [w for w in ws if w.value != UNKNOWN]) for k, ws in _writes(events).items())
        if ws
    }
    if not any(w.acked for ws in writes.values() for w in ws):
        return CheckResult(name, True, "no acknowledged writes to verify", skipped=True)
    if final is None:
        if partitioned:
            return CheckResult(name, True, "skipped: the network is partitioned at the end", skipped=True)
        return CheckResult(name, False, "the final read failed: no leader could serve it")
    wrong: list[str] = []
    first_at: float | None = None
    for key, ws in writes.items():
        if slack:
            ws = [_Write(w.op, w.value, w.invoked - slack, w.completed) for w in ws]
        possible = _possible_last(ws)
        got = final.get(key)
        if got not in possible:
            wrong.append(
                f"{key}={got!r} (possible: {', '.join(sorted(repr(v) for v in possible if v is not None))}"
                f"{' or absent' if None in possible else ''})"
            )
            acked_done = [w.completed for w in ws if w.acked]
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


def linearizable(events: Iterable[Event]) -> CheckResult:
    """The client history, checked key by key against a key-value model
    (etcdplay.linearizability); bounded: past its budget it says so and passes.
    The detail holds no timing, so simulated traces stay byte-identical."""
    from etcdplay.linearizability import check, operations_from_events

    name = "linearizable"
    ops = operations_from_events(events)
    if not ops:
        return CheckResult(name, True, "no client operations to check", skipped=True)
    result = check(ops)
    keys = len(result.keys)
    if result.verdict == "ok":
        return CheckResult(name, True, f"{result.operations} operations on {keys} key(s) linearize")
    if result.verdict == "unknown":
        return CheckResult(
            name,
            True,
            f"unknown: the search budget ran out ({result.operations} operations); no violation found so far",
            skipped=True,
        )
    conflict = result.conflict
    shown = "; ".join(o.describe() for o in conflict[:3])
    more = f" (+{len(conflict) - 3} more)" if len(conflict) > 3 else ""
    at = max((o.completed for o in conflict if not o.indeterminate), default=None)
    return CheckResult(
        name,
        False,
        f"not linearizable: these {len(conflict)} operation(s) on key {conflict[0].key!r} "
        f"admit no legal order: {shown}{more}",
        at=at,
        operations=tuple(o.describe() for o in conflict[:40]),
    )


def no_divergence(events: Iterable[Event]) -> CheckResult:
    """Periodic corruption check: members that report a KV hash at the same
    revision must report the same hash (live: etcd's HashKV at a revision
    every member has, each status round; simulator: its store's hash at each
    member's revision). Reports the first time two members diverged."""
    name = "no-divergence"
    seen: dict[int, tuple[str, str, float]] = {}  # revision -> (hash, node, t)
    compared = 0
    for e in events:
        if e["kind"] != "status" or e.get("hash") is None:
            continue
        rev = e.get("hash_revision", e.get("revision"))
        if rev is None:
            continue
        digest, node, t = str(e["hash"]), str(e.get("node")), float(e["t"])
        first = seen.setdefault(int(rev), (digest, node, t))
        compared += 1
        if first[0] != digest:
            return CheckResult(
                name,
                False,
                f"members diverged: at revision {rev} {first[1]} has hash {first[0]} "
                f"(seen at {first[2]:.3f} s) but {node} has {digest}",
                (first[1], node),
                t,
            )
    if not compared:
        return CheckResult(name, True, "no hashes in the trace to compare", skipped=True)
    return CheckResult(name, True, f"{compared} hashes at {len(seen)} revision(s) agree")
