"""Linearizability of a client history against a key-value model.

A history is every client operation of a run with the time it was invoked
and the time its answer came back. It is linearizable when the operations
can be put in one order that respects real time (an operation that finished
before another began comes first) and in which each one does what a single
key-value store would have done: a get reads the last value put (``None``
after a delete or before any put), a txn's compare succeeds exactly when
the key holds the expected value.

The search is Wing & Gong's, as Lowe improved it and Porcupine (the checker
etcd's robustness tests use) implements it: depth first over "which
operation takes effect next", remembering every (set of operations done,
model state) pair already explored so no configuration is searched twice.
Keys are independent in this model, so each key's history is checked on its
own (P-compositionality), which keeps the sets small.

Operations whose outcome is unknown (a write that failed or timed out may or
may not have been applied) are *indeterminate*: they may take effect at any
time after their invocation, or never; their completion time is infinite.
A failed read changed nothing and says nothing, so it is left out.

The search is bounded: past a budget of explored configurations or seconds
it answers "unknown" rather than running for hours on a history too large.
A violation is shrunk to a small set of operations that is still not
linearizable, which is what a person needs to see.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

INF = math.inf

Verdict = Literal["ok", "violation", "unknown"]

#: Default budget for one run's whole check: explored configurations and seconds.
DEFAULT_NODE_BUDGET = 2_000_000
DEFAULT_TIME_BUDGET = 30.0


@dataclass(frozen=True, slots=True)
class Operation:
    """One client operation on one key.

    ``value``: put: the value written; get: the value read (``None``: no such
    key); txn: the new value put when the compare holds. ``expect`` (txn): the
    value the compare wants (``None``: the key must not exist); ``succeeded``
    (txn): whether the compare held. ``completed`` is ``INF`` for an operation
    whose outcome is unknown.
    """

    id: int
    op: str  # put | get | delete | txn
    key: str
    invoked: float
    completed: float
    value: str | None = None
    expect: str | None = None
    succeeded: bool | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # copy and pickle through __init__ (compiled, a frozen dataclass
        # refuses the attribute writes they would otherwise make)
        args = (self.id, self.op, self.key, self.invoked, self.completed, self.value, self.expect)
        return (Operation, (*args, self.succeeded))

    @property
    def indeterminate(self) -> bool:
        return self.completed == INF

    def describe(self) -> str:
        if self.op == "put":
            what = f"put {self.key}={self.value}"
        elif self.op == "get":
            what = f"get {self.key} -> {self.value if self.value is not None else '(none)'}"
        elif self.op == "delete":
            what = f"delete {self.key}"
        else:
            outcome = "?" if self.succeeded is None else ("ok" if self.succeeded else "failed")
            what = f"txn {self.key}: if ={self.expect} then put {self.value} -> {outcome}"
        end = "?" if self.indeterminate else f"{self.completed:.6f}"
        return f"[{self.invoked:.6f}, {end}] {what}"


State = str | None


def step(state: State, op: Operation) -> tuple[bool, State]:
    """The model: (is this operation's outcome legal in ``state``, next state)."""
    if op.op == "put":
        return True, op.value
    if op.op == "delete":
        return True, None
    if op.op == "get":
        return op.value == state, state
    # txn: compare-and-put on one key
    holds = state == op.expect
    if op.succeeded is None:  # indeterminate: whichever way the compare went
        return True, op.value if holds else state
    if holds != op.succeeded:
        return False, state
    return True, op.value if holds else state


@dataclass
class KeyResult:
    key: str
    verdict: Verdict
    operations: int
    explored: int
    conflict: list[Operation] = field(default_factory=list)


@dataclass
class Result:
    verdict: Verdict
    keys: list[KeyResult]
    operations: int
    elapsed: float

    @property
    def conflict(self) -> list[Operation]:
        for k in self.keys:
            if k.verdict == "violation":
                return k.conflict
        return []


class _Budget:
    def __init__(self, nodes: int, seconds: float) -> None:
        self.nodes = nodes
        self.deadline = time.monotonic() + seconds

    def spend(self, n: int) -> bool:
        """Take ``n`` configurations; False once the budget is gone."""
        self.nodes -= n
        return self.nodes > 0 and (n < 1024 or time.monotonic() < self.deadline)

    def expired(self) -> bool:
        return self.nodes <= 0 or time.monotonic() >= self.deadline


def _prune(ops: Sequence[Operation]) -> list[Operation]:
    """Drop indeterminate puts whose value nobody ever saw: never applying them
    is always a legal choice then (no read or compare depends on them), and
    each one left in would double the search. Sound only when no txn on the
    key failed its compare (an unseen value could explain that)."""
    if any(o.op == "txn" and o.succeeded is not True for o in ops):
        return list(ops)
    seen = {o.value for o in ops if o.op == "get"} | {o.expect for o in ops if o.op == "txn"}
    return [o for o in ops if not (o.op == "put" and o.indeterminate and o.value not in seen)]


def _search(ops: Sequence[Operation], budget: _Budget) -> tuple[Verdict, int]:
    """Whether ``ops`` (one key) linearize from the empty state; configurations explored.

    A configuration is (the set of operations done, as a bitmask over the
    operations in invocation order; the model state). The operations that may
    go next are the ones not done whose invocation is no later than the
    earliest answer among those not done (the *horizon*): scanning them
    starts at ``lo``, the first determinate operation not done, and stops at
    the horizon, so each step looks at the few operations open at that
    moment, not at the whole history. Indeterminate operations never hold
    the horizon back; the few of them before ``lo`` are looked at one by one.
    An indeterminate put whose every reader is done is never worth applying
    any more (it would only put a value nobody reads), so it is left alone.
    """
    ops = sorted(ops, key=lambda o: (o.invoked, o.completed))
    n = len(ops)
    if n == 0:
        return "ok", 0
    invoked = [o.invoked for o in ops]
    completed = [o.completed for o in ops]
    determinate = [not o.indeterminate for o in ops]
    must = 0  # the operations that must be linearized: every determinate one
    for i in range(n):
        if determinate[i]:
            must |= 1 << i
    indeterminate = [i for i in range(n) if not determinate[i]]
    # readers of each indeterminate put's value (None: it may always matter)
    readers: dict[int, int | None] = {}
    compared = {o.expect for o in ops if o.op == "txn"}
    # a failed compare may be explained by any value at all: no put is ever dead then
    failed_compare = any(o.op == "txn" and o.succeeded is not True for o in ops)
    for i in indeterminate:
        if ops[i].op != "put" or ops[i].value in compared or failed_compare:
            readers[i] = None
            continue
        mask = 0
        for j, o in enumerate(ops):
            if o.op == "get" and o.value == ops[i].value:
                mask |= 1 << j
        readers[i] = mask

    def first_open(done: int, start: int) -> int:
        i = start
        while i < n and (done >> i & 1 or not determinate[i]):
            i += 1
        return i

    seen: set[tuple[int, State]] = set()
    stack: list[tuple[int, State, int]] = [(0, None, first_open(0, 0))]
    explored = 0
    while stack:
        done, state, lo = stack.pop()
        if done & must == must:
            return "ok", explored
        key = (done, state)
        if key in seen:
            continue
        seen.add(key)
        explored += 1
        if not explored & 1023 and not budget.spend(1024):
            return "unknown", explored
        # the horizon: the earliest answer among determinate operations not done
        horizon = INF
        i = lo
        while i < n and invoked[i] <= horizon:
            if determinate[i] and not done >> i & 1 and completed[i] < horizon:
                horizon = completed[i]
            i += 1
        candidates: list[int] = []
        for j in indeterminate:
            if j >= lo:
                break
            if not done >> j & 1:
                need = readers[j]
                if need is None or done & need != need:
                    candidates.append(j)
        i = lo
        while i < n and invoked[i] <= horizon:
            if not done >> i & 1:
                need = None if determinate[i] else readers[i]
                if need is None or done & need != need:
                    candidates.append(i)
            i += 1
        children: list[tuple[int, State, int]] = []
        for i in candidates:
            legal, after = step(state, ops[i])
            if legal:
                child = done | 1 << i
                children.append((child, after, first_open(child, lo) if i == lo else lo))
        # Pushed in reverse, so the earliest-invoked operation is tried first.
        stack.extend(reversed(children))
    return "violation", explored


def _shrink(ops: list[Operation], budget: _Budget) -> list[Operation]:
    """A smaller subset of a non-linearizable ``ops`` that is still not
    linearizable (delta debugging: drop chunks, halving their size). A put
    whose value a kept read observes is never dropped, so the result never
    "fails" only because a read's write was removed."""

    def needed(kept: list[Operation]) -> set[str | None]:
        return {o.value for o in kept if o.op == "get"} | {o.expect for o in kept if o.op == "txn"}

    def still_fails(candidate: list[Operation]) -> bool:
        verdict, _ = _search(candidate, budget)
        return verdict == "violation"

    current = list(ops)
    chunk = max(1, len(current) // 2)
    while not budget.expired():
        i = 0
        while i < len(current) and not budget.expired():
            rest = current[:i] + current[i + chunk :]
            keep = needed(rest)
            back = [o for o in current[i : i + chunk] if o.op in ("put", "txn") and o.value in keep]
            candidate = sorted(rest + back, key=lambda o: (o.invoked, o.id))
            if len(candidate) < len(current) and still_fails(candidate):
                current = candidate
            else:
                i += chunk
        if chunk == 1:
            break
        chunk //= 2
    return current


def check_key(
    key: str, ops: Sequence[Operation], budget: _Budget | None = None, shrink: bool = True
) -> KeyResult:
    budget = budget or _Budget(DEFAULT_NODE_BUDGET, DEFAULT_TIME_BUDGET)
    pruned = _prune(ops)
    written = {o.value for o in pruned if o.op in ("put", "txn")}
    # A read of a value nobody wrote needs no search, and is its own proof.
    for o in pruned:
        if o.op == "get" and o.value is not None and o.value not in written:
            return KeyResult(key, "violation", len(ops), 0, [o])
    verdict, explored = _search(pruned, budget)
    conflict = _shrink(pruned, budget) if verdict == "violation" and shrink else []
    return KeyResult(key, verdict, len(ops), explored, conflict)


def check(
    ops: Iterable[Operation],
    node_budget: int = DEFAULT_NODE_BUDGET,
    time_budget: float = DEFAULT_TIME_BUDGET,
) -> Result:
    """Check a whole history, key by key. ``ok`` only when every key is;
    ``violation`` as soon as one key is; else ``unknown``."""
    began = time.monotonic()
    budget = _Budget(node_budget, time_budget)
    by_key: dict[str, list[Operation]] = {}
    for o in ops:
        by_key.setdefault(o.key, []).append(o)
    results: list[KeyResult] = []
    for key in sorted(by_key):
        result = check_key(key, by_key[key], budget)
        results.append(result)
        if result.verdict == "violation":
            break
    verdicts = {r.verdict for r in results}
    if "violation" in verdicts:
        verdict: Verdict = "violation"
    elif "unknown" in verdicts:
        verdict = "unknown"
    else:
        verdict = "ok"
    total = sum(len(v) for v in by_key.values())
    return Result(verdict, results, total, time.monotonic() - began)


# --- from a trace ---------------------------------------------------------------------


def operations_from_events(events: Iterable[dict[str, Any]]) -> list[Operation]:
    """The checkable operations of a trace's ``client`` events.

    Needs ``invoked`` (or ``latency``) on each event. Left out: failed reads,
    serializable reads (etcd lets them be stale: they are not linearizable by
    design) and prefix reads. A failed write or txn is indeterminate.
    """
    out: list[Operation] = []
    for e in events:
        if e.get("kind") != "client" or e.get("op") not in ("put", "get", "delete", "txn"):
            continue
        if e.get("serializable"):
            continue
        ok = bool(e.get("ok"))
        op = str(e["op"])
        if op == "get" and not ok:
            continue
        t = float(e["t"])
        invoked = float(e["invoked"]) if e.get("invoked") is not None else t - float(e.get("latency") or 0.0)
        value = e.get("value")
        o = Operation(
            id=len(out),
            op=op,
            key=str(e["key"]),
            invoked=invoked,
            completed=t if ok else INF,
            value=None if value is None else str(value),
        )
        if op == "txn":
            expect = e.get("expect")
            o = replace(
                o,
                expect=None if expect is None else str(expect),
                succeeded=bool(e.get("succeeded")) if ok else None,
            )
        out.append(o)
    return out
