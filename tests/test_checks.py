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
