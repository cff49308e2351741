"""KVStore: applying committed entries."""

from __future__ import annotations

import subprocess
import sys

from etcdplay.sim.kv import KVStore
from etcdplay.sim.raft import Command, Entry


def put(i: int, key: str, value: str) -> Entry:
    return Entry(1, i, Command("put", key, value))


def delete(i: int, key: str) -> Entry:
    return Entry(1, i, Command("delete", key))


def test_put_get_delete_and_revision() -> None:
    kv = KVStore()
    assert kv.apply(put(1, "a", "1"))
    assert kv.apply(put(2, "a", "2"))  # overwriting is a change (etcd bumps the revision)
    assert not kv.apply(Entry(1, 3, None))  # no-op: only the applied index moves
    assert not kv.apply(delete(4, "missing"))
    assert kv.apply(put(5, "b", "x"))
    assert kv.apply(delete(6, "a"))
    assert kv.get("a") is None and kv.get("b") == "x"
    assert kv.revision == 4
    assert kv.applied_index == 6
    assert kv.key_count == 1 == len(kv)
    assert list(kv.items()) == [("b", "x")]


def test_apply_is_idempotent_by_index() -> None:
    kv = KVStore()
    entries = [put(1, "a", "1"), put(2, "b", "2")]
    for e in entries:
        kv.apply(e)
    h, rev = kv.hash, kv.revision
    for e in entries:  # a restarted node re-applies its committed log
        assert not kv.apply(e)
    assert (kv.hash, kv.revision) == (h, rev)


def test_hash_depends_on_contents_not_history() -> None:
    a, b = KVStore(), KVStore()
    for i, e in enumerate([("x", "1"), ("y", "2")], 1):
        a.apply(put(i, *e))
    b.apply(put(1, "y", "2"))
    b.apply(put(2, "z", "0"))
    b.apply(put(3, "x", "1"))
    b.apply(delete(4, "z"))
    assert a.hash == b.hash
    b.apply(put(5, "x", "changed"))
    assert a.hash != b.hash
    # no ambiguity between key and value boundaries
    c, d = KVStore(), KVStore()
    c.apply(put(1, "ab", "c"))
    d.apply(put(1, "a", "bc"))
    assert c.hash != d.hash
    assert len(KVStore().hash_hex) == 16


def test_hash_is_stable_across_processes() -> None:
    code = (
        "from etcdplay.sim.kv import KVStore;"
        "from etcdplay.sim.raft import Command, Entry;"
        "kv = KVStore();"
        "[kv.apply(Entry(1, i, Command('put', f'k{i}', 'v'))) for i in range(1, 20)];"
        "print(kv.hash)"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PYTHONPATH": sys.path[0] + ":" + ":".join(sys.path)},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(runs) == 1


def test_unknown_op_is_an_error() -> None:
    kv = KVStore()
    try:
        kv.apply(Entry(1, 1, Command("cas", "k")))
    except ValueError as e:
        assert "cas" in str(e)
    else:
        raise AssertionError("expected ValueError")
