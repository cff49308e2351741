"""A tiny deterministic harness for RaftNode tests: no SimPy, no timers.

Messages go into one FIFO queue; tests deliver, drop, reorder or filter
them. Each node's disk is simulated by applying every Output's persist
fields to a Storage, which is what a restart is handed, and every Output is
also fed to a SafetyMonitor and the node's KVStore.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from etcdplay.sim.kv import KVStore
from etcdplay.sim.raft import (
    AppendRequest,
    Command,
    Entry,
    HardState,
    Message,
    Output,
    RaftNode,
    Role,
    Storage,
)
from etcdplay.sim.safety import SafetyMonitor

MessageFilter = Callable[[Message], Message | None]


@dataclass
class Cluster:
    n: int = 3
    pre_vote: bool = False
    check_quorum: bool = False
    election_timeout: float = 1.0
    node_cls: type[RaftNode] = RaftNode
    node_classes: dict[str, type[RaftNode]] = field(default_factory=dict)
    check_persistence: bool = True

    def __post_init__(self) -> None:
        self.ids = [f"n{i}" for i in range(1, self.n + 1)]
        self.now = 0.0
        self.queue: list[Message] = []
        self.monitor = SafetyMonitor()
        self.disk: dict[str, Storage] = {}
        self.kv: dict[str, KVStore] = {}
        self.nodes: dict[str, RaftNode] = {}
        self.down: set[str] = set()
        self.cut: set[frozenset[str]] = set()  # links that drop messages
        self.outputs: dict[str, list[Output]] = {i: [] for i in self.ids}
        for i in self.ids:
            self.disk[i] = Storage(HardState(0, None, 0), [])
            self.kv[i] = KVStore()
            self.nodes[i] = self._make(i, None)

    def _make(self, node_id: str, storage: Storage | None) -> RaftNode:
        cls = self.node_classes.get(node_id, self.node_cls)
        return cls(
            node_id,
            self.ids,
            pre_vote=self.pre_vote,
            check_quorum=self.check_quorum,
            election_timeout=self.election_timeout,
            storage=storage,
            now=self.now,
        )

    def load(self, node_id: str, term: int, log: list[Entry], commit: int = 0) -> None:
        """Give node_id this disk, as if it crashed with it, and restart it."""
        self.disk[node_id] = Storage(HardState(term, None, commit), list(log))
        self.restart(node_id)

    def __getitem__(self, node_id: str) -> RaftNode:
        return self.nodes[node_id]

    # --- what a shell does with an Output ------------------------------------------

    def handle(self, node_id: str, out: Output) -> Output:
        node = self.nodes[node_id]
        disk = self.disk[node_id]
        if out.hard_state is not None:
            disk.hard_state = copy.copy(out.hard_state)
        if out.log_truncated_from is not None:
            del disk.log[out.log_truncated_from - 1 :]
        disk.log.extend(out.appended)
        if self.check_persistence:
            assert disk == node.storage(), f"{node_id}: Output does not describe the state change"
        kv = self.kv[node_id]
        for e in out.committed:
            kv.apply(e)
        self.monitor.observe_output(node_id, node, out, self.now)
        self.queue.extend(out.messages)
        self.outputs[node_id].append(out)
        return out

    # --- inputs ------------------------------------------------------------------

    def timeout(self, node_id: str) -> Output:
        return self.handle(node_id, self.nodes[node_id].election_timeout_fired(self.now))

    def heartbeat(self, node_id: str) -> Output:
        return self.handle(node_id, self.nodes[node_id].heartbeat_fired(self.now))

    def check_quorum_tick(self, node_id: str) -> Output:
        return self.handle(node_id, self.nodes[node_id].check_quorum_fired(self.now))

    def propose(self, node_id: str, key: str, value: str = "v", op: str = "put") -> Output:
        cmd = Command(op, key, value)
        return self.handle(node_id, self.nodes[node_id].propose(cmd, self.now))

    def transfer(self, node_id: str, target: str) -> Output:
        return self.handle(node_id, self.nodes[node_id].transfer_leadership(target, self.now))

    def advance(self, dt: float) -> None:
        self.now += dt

    # --- faults --------------------------------------------------------------------

    def crash(self, node_id: str) -> None:
        self.down.add(node_id)

    def restart(self, node_id: str) -> Output:
        self.down.discard(node_id)
        stored = self.disk[node_id]
        self.nodes[node_id] = self._make(node_id, Storage(copy.copy(stored.hard_state), list(stored.log)))
        self.monitor.on_restart(node_id, self.nodes[node_id], stored.hard_state, self.now)
        self.kv[node_id] = KVStore()  # volatile: rebuilt from the committed log
        return self.handle(node_id, self.nodes[node_id].flush(self.now))

    def isolate(self, node_id: str) -> None:
        for other in self.ids:
            if other != node_id:
                self.cut.add(frozenset((node_id, other)))

    def partition(self, *groups: Iterable[str]) -> None:
        sets = [set(g) for g in groups]
        for a in self.ids:
            for b in self.ids:
                if a < b and not any(a in s and b in s for s in sets):
                    self.cut.add(frozenset((a, b)))

    def heal(self) -> None:
        self.cut.clear()

    def _deliverable(self, m: Message) -> bool:
        return m.dst not in self.down and frozenset((m.src, m.dst)) not in self.cut

    # --- the message bus -------------------------------------------------------------

    def deliver_one(self, position: int = 0, transform: MessageFilter | None = None) -> None:
        m = self.queue.pop(position)
        if transform is not None:
            t = transform(m)
            if t is None:
                return
            m = t
        if not self._deliverable(m):
            return
        self.handle(m.dst, self.nodes[m.dst].step(m, self.now))

    def deliver(self, transform: MessageFilter | None = None, limit: int = 100_000) -> int:
        """Deliver until the queue is empty (messages sent meanwhile too)."""
        count = 0
        while self.queue and count < limit:
            self.deliver_one(0, transform)
            count += 1
        return count

    def drop_all(self) -> None:
        self.queue.clear()

    # --- scenarios -------------------------------------------------------------------

    def elect(self, node_id: str) -> None:
        """Fire node_id's election timer and deliver everything."""
        self.timeout(node_id)
        self.deliver()
        assert self.nodes[node_id].role is Role.LEADER, self.status()

    def leaders(self) -> list[str]:
        return [i for i in self.ids if i not in self.down and self.nodes[i].role is Role.LEADER]

    def status(self) -> str:
        return "; ".join(
            f"{i}:{n.role.value} t{n.term} last{n.last_index} c{n.commit_index}"
            + (" DOWN" if i in self.down else "")
            for i, n in self.nodes.items()
        )

    def events(self, node_id: str, kind: str) -> list[dict[str, object]]:
        return [ev.fields for out in self.outputs[node_id] for ev in out.events if ev.kind == kind]


def log_of(*terms: int, key: str = "k") -> list[Entry]:
    """A log with these terms; each entry a put of a distinct value."""
    return [Entry(t, i, Command("put", key, f"{key}{i}@t{t}")) for i, t in enumerate(terms, 1)]


def figure8(cluster: Cluster) -> None:
    """Raft paper Figure 8 (c)-(d), with etcd's leader no-ops, on 5 nodes.

        n1 led term 2 and wrote index 2 on n1, n2 only; n5 led term 3 and wrote
        index 2 (its no-op) on n5, n4. Now n1 wins term 4 (votes n2, n3), appends
        its no-op at index 3, and gets index 2 onto n3 as well (the no-op itself
        is held back): index 2 is on a majority but is from term 2, so it must
        NOT be committed. Then n1 crashes and n5 wins term 5 with n2, n3, n4 (on its
    second try: they voted for n1 in term 4), and
        overwrites index 2 everywhere. A correct core commits nothing from n1's
        term 2; a core that commits by counting replicas has now lost a
        committed entry.
    """
    noop = Entry(1, 1, None)
    old = Entry(2, 2, Command("put", "x", "old"))
    other = Entry(3, 2, None)
    cluster.load("n1", 3, [noop, old], commit=1)
    cluster.load("n2", 3, [noop, old], commit=1)
    cluster.load("n3", 3, [noop], commit=1)
    cluster.load("n4", 3, [noop, other], commit=1)
    cluster.load("n5", 3, [noop, other], commit=1)

    def hold_back_index_3(m: Message) -> Message | None:
        if isinstance(m, AppendRequest) and m.src == "n1":
            kept = tuple(e for e in m.entries if e.index <= 2)
            return AppendRequest(m.src, m.dst, m.term, m.prev_index, m.prev_term, kept, m.commit)
        return m

    cluster.cut |= {frozenset(("n1", "n4")), frozenset(("n1", "n5"))}
    cluster.timeout("n1")
    cluster.deliver(hold_back_index_3)
    assert cluster["n1"].role is Role.LEADER and cluster["n1"].term == 4, cluster.status()
    cluster.heartbeat("n1")
    cluster.deliver(hold_back_index_3)
    assert cluster["n3"].log[1] == old  # index 2 is on n1, n2, n3
    cluster.crash("n1")
    cluster.heal()
    cluster.timeout("n5")  # term 4: n2, n3 already voted for n1 in term 4
    cluster.deliver()
    cluster.timeout("n5")  # term 5: n2, n3, n4 vote, n5's last term 3 beats 2
    cluster.deliver()
    assert cluster["n5"].role is Role.LEADER and cluster["n5"].term == 5, cluster.status()
    cluster.heartbeat("n5")
    cluster.deliver()
