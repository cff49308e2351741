"""The linearizability checker on hand-made histories, and property tests."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from etcdplay import checks
from etcdplay.linearizability import INF, Operation, check, check_key, operations_from_events


def op(
    i: int, kind: str, key: str, start: float, end: float, value: str | None = None, **kw: object
) -> Operation:
    return Operation(i, kind, key, start, end, value, **kw)  # type: ignore[arg-type]


def verdict(*ops: Operation) -> str:
    return check(ops).verdict


# --- hand-made histories ---------------------------------------------------------------


def test_sequential_history_is_linearizable() -> None:
    assert verdict(op(0, "put", "k", 0, 1, "a"), op(1, "get", "k", 2, 3, "a")) == "ok"


def test_read_of_the_overwritten_value_after_the_overwrite_is_a_violation() -> None:
    # A stale read: the put of b finished before the read began.
    history = [
        op(0, "put", "k", 0, 1, "a"),
        op(1, "put", "k", 2, 3, "b"),
        op(2, "get", "k", 4, 5, "a"),
    ]
    result = check(history)
    assert result.verdict == "violation"
    assert {o.id for o in result.conflict} == {1, 2} or {o.id for o in result.conflict} == {0, 1, 2}


def test_concurrent_overwrite_may_be_read_either_way() -> None:
    for seen in ("a", "b"):
        history = [
            op(0, "put", "k", 0, 1, "a"),
            op(1, "put", "k", 2, 6, "b"),
            op(2, "get", "k", 3, 4, seen),
        ]
        assert verdict(*history) == "ok"


def test_read_after_a_delete_must_see_nothing() -> None:
    history = [op(0, "put", "k", 0, 1, "a"), op(1, "delete", "k", 2, 3), op(2, "get", "k", 4, 5, "a")]
    assert verdict(*history) == "violation"
    history[2] = op(2, "get", "k", 4, 5, None)
    assert verdict(*history) == "ok"


def test_a_put_that_was_ignored_is_caught() -> None:
    # The KV bug from the issue: a put to an existing key ignored.
    history = [op(0, "put", "k", 0, 1, "a"), op(1, "put", "k", 2, 3, "b"), op(2, "get", "k", 4, 5, "a")]
    assert verdict(*history) == "violation"


def test_read_of_a_value_never_written_is_its_own_proof() -> None:
    result = check([op(0, "put", "k", 0, 1, "a"), op(1, "get", "k", 2, 3, "zzz")])
    assert result.verdict == "violation"
    assert [o.id for o in result.conflict] == [1]


def test_indeterminate_write_may_have_happened_or_not() -> None:
    lost = op(1, "put", "k", 2, INF, "b")
    for seen in ("a", "b"):
        assert verdict(op(0, "put", "k", 0, 1, "a"), lost, op(2, "get", "k", 10, 11, seen)) == "ok"
    # but not before it was invoked
    assert verdict(op(0, "put", "k", 0, 1, "a"), lost, op(2, "get", "k", 1.5, 1.8, "b")) == "violation"


def test_an_indeterminate_write_cannot_flicker() -> None:
    # b appears, then a again with nothing rewriting a: no legal order.
    history = [
        op(0, "put", "k", 0, 1, "a"),
        op(1, "put", "k", 2, INF, "b"),
        op(2, "get", "k", 3, 4, "b"),
        op(3, "get", "k", 5, 6, "a"),
    ]
    result = check(history)
    assert result.verdict == "violation"
    assert len(result.conflict) <= 4


def test_txn_compare_and_put() -> None:
    history = [
        op(0, "put", "k", 0, 1, "a"),
        op(1, "txn", "k", 2, 3, "b", expect="a", succeeded=True),
        op(2, "get", "k", 4, 5, "b"),
    ]
    assert verdict(*history) == "ok"
    wrong = [history[0], op(1, "txn", "k", 2, 3, "b", expect="a", succeeded=False)]
    assert verdict(*wrong) == "violation"


def test_keys_are_checked_independently() -> None:
    history = [op(0, "put", "x", 0, 1, "a"), op(1, "put", "y", 0, 1, "b"), op(2, "get", "x", 2, 3, "a")]
    assert verdict(*history) == "ok"


def test_budget_gives_unknown_not_a_hang() -> None:
    # Many concurrent indeterminate writes whose values are read: a large search.
    rng = random.Random(3)
    ops = [op(i, "put", "k", 0.0, INF if i % 2 else 100.0, f"v{i}") for i in range(40)]
    ops += [op(40 + i, "get", "k", 1.0, 99.0, f"v{rng.randrange(40)}") for i in range(20)]
    result = check(ops, node_budget=2000, time_budget=5)
    assert result.verdict in ("unknown", "violation")
    assert result.elapsed < 30


def test_minimal_conflict_among_many_operations() -> None:
    # A long healthy history with one stale read in the middle.
    ops: list[Operation] = []
    t = 0.0
    for i in range(200):
        ops.append(op(len(ops), "put", "k", t, t + 0.5, f"v{i}"))
        ops.append(op(len(ops), "get", "k", t + 0.6, t + 0.9, f"v{i}"))
        t += 1
    stale = op(len(ops), "get", "k", 50.2, 50.4, "v10")
    result = check([*ops, stale])
    assert result.verdict == "violation"
    assert stale in result.conflict
    assert len(result.conflict) <= 4


# --- from trace events ---------------------------------------------------------------


def test_operations_from_events_and_the_check() -> None:
    events = [
        {"t": 1.0, "kind": "client", "op": "put", "key": "k", "value": "a", "ok": True, "invoked": 0.5},
        {"t": 2.0, "kind": "client", "op": "put", "key": "k", "value": "b", "ok": False, "invoked": 1.5},
        {"t": 3.0, "kind": "client", "op": "get", "key": "k", "value": "b", "ok": True, "latency": 0.2},
        {"t": 3.5, "kind": "client", "op": "get", "key": "k", "ok": False, "latency": 0.2},
        {"t": 3.6, "kind": "client", "op": "get", "key": "k", "value": "a", "ok": True, "serializable": True},
    ]
    ops = operations_from_events(events)
    assert [o.op for o in ops] == ["put", "put", "get"]
    assert ops[1].completed == INF
    assert ops[2].invoked == 2.8
    assert checks.linearizable(events).ok
    events.append(
        {"t": 5.0, "kind": "client", "op": "get", "key": "k", "value": "a", "ok": True, "latency": 0.1}
    )
    result = checks.linearizable(events)
    assert not result.ok
    assert any("get k -> a" in line for line in result.operations)


# --- properties -----------------------------------------------------------------------


@st.composite
def sequential_histories(draw: st.DrawFn) -> list[Operation]:
    """A sequential execution on a real KV store, each operation given a time
    window that contains its moment of effect: always linearizable."""
    n = draw(st.integers(1, 25))
    keys = draw(st.integers(1, 3))
    store: dict[str, str] = {}
    ops: list[Operation] = []
    for i in range(n):
        key = f"k{draw(st.integers(0, keys - 1))}"
        kind = draw(st.sampled_from(["put", "get", "delete", "txn"]))
        moment = float(i)
        before = draw(st.floats(0, 3))
        after = draw(st.floats(0, 3))
        lost = kind != "get" and draw(st.integers(0, 5)) == 0
        end = INF if lost else moment + after
        if kind == "put":
            store[key] = f"v{i}"
            ops.append(op(i, "put", key, moment - before, end, f"v{i}"))
        elif kind == "delete":
            store.pop(key, None)
            ops.append(op(i, "delete", key, moment - before, end))
        elif kind == "get":
            ops.append(op(i, "get", key, moment - before, end, store.get(key)))
        else:
            expect = draw(st.sampled_from([store.get(key), f"v{max(i - 1, 0)}", None]))
            holds = store.get(key) == expect
            if holds:
                store[key] = f"v{i}"
            ops.append(
                op(
                    i,
                    "txn",
                    key,
                    moment - before,
                    end,
                    f"v{i}",
                    expect=expect,
                    succeeded=None if lost else holds,
                )
            )
    return ops


@given(sequential_histories())
@settings(max_examples=150, deadline=None)
def test_histories_from_a_sequential_execution_are_linearizable(history: list[Operation]) -> None:
    assert check(history).verdict == "ok"


@given(sequential_histories(), st.data())
@settings(max_examples=100, deadline=None)
def test_a_read_moved_to_a_value_never_there_is_caught(history: list[Operation], data: st.DataObject) -> None:
    reads = [o for o in history if o.op == "get"]
    if not reads:
        return
    victim = data.draw(st.sampled_from(reads))
    bad = [o if o is not victim else op(o.id, "get", o.key, o.invoked, o.completed, "never") for o in history]
    result = check(bad)
    assert result.verdict == "violation"
    assert any(o.id == victim.id for o in result.conflict)


@given(sequential_histories())
@settings(max_examples=100, deadline=None)
def test_a_shrunk_conflict_is_itself_not_linearizable(history: list[Operation]) -> None:
    # Make one read stale: it returns the value before the last write to its key, read long after.
    for i in range(len(history) - 1, -1, -1):
        o = history[i]
        if o.op == "get" and o.value is not None and not o.indeterminate:
            late = op(999, "get", o.key, o.completed + 100, o.completed + 101, o.value)
            later_put = op(998, "put", o.key, o.completed + 50, o.completed + 51, "fresh")
            same_key = [h for h in history if h.key == o.key]
            result = check_key(o.key, [*same_key, later_put, late])
            assert result.verdict == "violation"
            assert check_key(o.key, result.conflict, shrink=False).verdict == "violation"
            return
