"""The key-value state machine that committed Raft entries are applied to.

Like etcd's MVCC store in miniature: a `revision` that grows with every
change, an `applied_index` (etcd's consistent index) that makes applying
idempotent, and a content hash that is stable across processes so simulated
and live runs, and different nodes, can be compared.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from etcdplay.sim.raft import Entry

__all__ = ["KVStore"]


class KVStore:
    __slots__ = ("_data", "_hash", "applied_index", "compare_held", "revision")

    def __init__(self) -> None:
        self._data: dict[str, str] = {}
        self._hash: int | None = None
        # etcd starts at revision 1 for an empty store; we count changes from 0.
        self.revision = 0
        self.applied_index = 0
        # whether the last txn applied found its compare true (what the
        # member that proposed it answers its client)
        self.compare_held = False

    def apply(self, entry: Entry) -> bool:
        """Apply one committed entry; returns whether the contents changed.

        Entries at or below `applied_index` are skipped, so a node restarted
        with a surviving store can be handed its whole committed log again.
        A put always counts as a change (etcd bumps the revision even when
        the value is the same); deleting a missing key does not. A txn is a
        compare-and-put on one key: when the key does not hold ``expect`` it
        changes nothing (etcd makes no revision for a txn that writes nothing).
        """
        if entry.index <= self.applied_index:
            return False
        self.applied_index = entry.index
        cmd = entry.command
        if cmd is None:
            return False
        if cmd.op == "txn":
            self.compare_held = self._data.get(cmd.key) == cmd.expect
            if not self.compare_held:
                return False
        if cmd.op == "put" or cmd.op == "txn":
            self._data[cmd.key] = cmd.value
        elif cmd.op == "delete":
            if cmd.key not in self._data:
                return False
            del self._data[cmd.key]
        else:
            raise ValueError(f"unknown command op {cmd.op!r} at index {entry.index}")
        self.revision += 1
        self._hash = None
        return True

    def get(self, key: str) -> str | None:
        return self._data.get(key)

    def items(self) -> Iterator[tuple[str, str]]:
        """Items in key order."""
        for k in sorted(self._data):
            yield k, self._data[k]

    def __len__(self) -> int:
        return len(self._data)

    @property
    def key_count(self) -> int:
        return len(self._data)

    @property
    def hash(self) -> int:
        """A 64-bit BLAKE2b digest of the sorted contents (not Python's
        per-process `hash()`), equal on any machine for equal contents."""
        if self._hash is None:
            h = hashlib.blake2b(digest_size=8)
            for k, v in self.items():
                kb = k.encode()
                vb = v.encode()
                h.update(len(kb).to_bytes(4, "big"))
                h.update(kb)
                h.update(len(vb).to_bytes(4, "big"))
                h.update(vb)
            self._hash = int.from_bytes(h.digest(), "big")
        return self._hash

    @property
    def hash_hex(self) -> str:
        return f"{self.hash:016x}"
