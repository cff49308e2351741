"""Trace-level checks can pass and, above all, can fail."""

from __future__ import annotations

from etcdplay import checks


def role(t: float, node: str, r: str, term: int) -> dict:
    return {"t": t, "kind": "role", "node": node, "role": r, "term": term}


def put(t: float, key: str, ok: bool, value: str = "v") -> dict:
    return {"t": t, "kind": "client", "op": "put", "key": key, "value": value, "ok": ok, "latency": 0.01}


def test_one_leader_per_term() -> None:
    good = [role(1, "n1", "leader", 2), role(2, "n1", "follower", 3), role(2.1, "n2", "leader", 3)]
    assert checks.one_leader_per_term(good).ok
    bad = [*good, role(3, "n3", "leader", 3)]
    result = checks.one_leader_per_term(bad)
    assert not result.ok and result.nodes == ("n2", "n3") and result.at == 3
    assert "term 3 has two leaders" in result.detail


def test_no_acked_write_lost() -> None:
    events = [put(1, "a", True, "1"), put(2, "b", False), put(3, "a", False, "2")]
    assert checks.no_acked_write_lost(events, {"a": "1"}).ok
    assert checks.no_acked_write_lost(events, {"a": "2"}).ok  # an unacked later write may apply
    lost = checks.no_acked_write_lost(events, {})
    assert not lost.ok and "1 acknowledged write(s) missing" in lost.detail and lost.at == 1
    wrong = checks.no_acked_write_lost(events, {"a": "9"})
    assert not wrong.ok and "wrong value" in wrong.detail
    assert not checks.no_acked_write_lost(events, None).ok
    deleted = [*events, {"t": 4, "kind": "client", "op": "delete", "key": "a", "ok": True, "latency": 0}]
    assert checks.no_acked_write_lost(deleted, {}).ok


def test_convergence() -> None:
    same = {"running": True, "revision": 5, "keys": 4, "hash": "ab"}
    statuses = [{"node": "n1", **same}, {"node": "n2", **same}, {"node": "n3", "running": False}]
    assert checks.convergence(statuses).ok
    statuses[1] = {"node": "n2", **same, "hash": "cd"}
    result = checks.convergence(statuses)
    assert not result.ok and "n2: rev 5 keys 4 hash cd" in result.detail
    assert not checks.convergence([{"node": "n1", "running": False}]).ok


def write(op: str, t0: float, t1: float, key: str, value: str | None, ok: bool = True) -> dict:
    e = {"t": t1, "invoked": t0, "kind": "client", "op": op, "key": key, "ok": ok, "latency": t1 - t0}
    if value is not None:
        e["value"] = value
    return e


def test_no_acked_write_lost_allows_concurrent_writes_in_either_order() -> None:
    # b was acknowledged after a, but they overlapped: either may be last
    events = [write("put", 0, 2, "k", "a"), write("put", 1, 3, "k", "b")]
    assert checks.no_acked_write_lost(events, {"k": "a"}).ok
    assert checks.no_acked_write_lost(events, {"k": "b"}).ok
    # not overlapping: a cannot be last
    events = [write("put", 0, 1, "k", "a"), write("put", 2, 3, "k", "b")]
    assert not checks.no_acked_write_lost(events, {"k": "a"}).ok


def test_no_acked_write_lost_verifies_deletes() -> None:
    events = [write("put", 0, 1, "k", "a"), write("delete", 2, 3, "k", None)]
    assert checks.no_acked_write_lost(events, {}).ok
    result = checks.no_acked_write_lost(events, {"k": "a"})
    assert not result.ok and "wrong value" in result.detail  # a deleted key came back


def test_no_divergence() -> None:
    def status(t: float, node: str, rev: int, digest: str) -> dict:
        return {
            "t": t,
            "kind": "status",
            "node": node,
            "revision": rev + 3,
            "hash_revision": rev,
            "hash": digest,
        }

    same = [status(1, "n1", 10, "aa"), status(1, "n2", 10, "aa"), status(2, "n3", 10, "aa")]
    assert checks.no_divergence(same).ok
    result = checks.no_divergence([*same, status(3, "n2", 12, "bb"), status(3, "n3", 12, "cc")])
    assert not result.ok and result.at == 3 and result.nodes == ("n2", "n3")
    assert "revision 12" in result.detail
    assert checks.no_divergence([]).skipped


def txn(t0: float, t1: float, key: str, value: str, expect: str | None, succeeded: bool | None) -> dict:
    e = write("txn", t0, t1, key, value, ok=succeeded is not None)
    e["expect"] = expect
    if succeeded is not None:
        e["succeeded"] = succeeded
    return e


def test_write_order_checks_read_a_txn_as_the_put_it_may_be() -> None:
    base = [write("put", 0, 1, "k", "a")]
    held = [*base, txn(2, 3, "k", "b", "a", True)]
    failed_compare = [*base, txn(2, 3, "k", "b", "x", False)]
    unanswered = [*base, txn(2, 3, "k", "b", "a", None)]
    for check in (checks.no_acked_write_lost, checks.final_values):
        # a txn whose compare held is a put acknowledged after "a"
        assert check(held, {"k": "b"}).ok and not check(held, {"k": "a"}).ok
        # one whose compare failed wrote nothing
        assert check(failed_compare, {"k": "a"}).ok and not check(failed_compare, {"k": "b"}).ok
        # one with no answer may have put its value, or not
        assert check(unanswered, {"k": "a"}).ok and check(unanswered, {"k": "b"}).ok
        assert not check(unanswered, {"k": "c"}).ok


def test_check_results_and_operations_survive_copy_and_pickle() -> None:
    # both are compiled with the simulator core, where a frozen dataclass
    # refuses the attribute writes copy and pickle make without __reduce__
    import copy
    import pickle

    from etcdplay.linearizability import Operation

    result = checks.CheckResult("x", False, "detail", ("n1", "n2"), 1.5, True, ("op",))
    op = Operation(3, "txn", "k", 0.25, 1.0, "new", "old", True)
    for thing in (result, op):
        assert pickle.loads(pickle.dumps(thing)) == thing
        assert copy.copy(thing) == thing
        assert copy.deepcopy(thing) == thing
