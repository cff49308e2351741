"""What a workload client does next, shared by both backends.

Modelled on etcd's robustness tests (tests/robustness/traffic): several
clients, each doing one operation after another on a small set of keys, so
operations on a key overlap and the linearizability check has something to
decide. Every put writes a value no one wrote before (``c<client>-<n>``),
which is what lets the checker tell writes apart. A txn is a
compare-and-put on one key: put a new value if the key still holds the
value this client last read there (or is absent).

Also here: which extra etcd flags a scenario may pass to live members.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from etcdplay.scenario import WorkloadStep

#: After a failed operation a client waits this long before the next: a
#: member that is down refuses at once, and a client spinning on refusals
#: would flood the trace without testing anything.
FAILURE_BACKOFF = 0.05


@dataclass(frozen=True, slots=True)
class PlannedOp:
    op: str  # put | get | delete | txn
    key: str
    value: str | None = None  # put/txn: the new value
    expect: str | None = None  # txn: the value the compare wants (None: absent)


class ClientPlan:
    """The random choices of one workload client (its own seeded generator)."""

    def __init__(self, step: WorkloadStep, client: int, seed: int) -> None:
        self.step = step
        self.client = client
        self.rng = random.Random(f"workload:{seed}:{client}")
        self.ops = [op for op, w in step.mix.items() if w > 0]
        self.weights = [step.mix[op] for op in self.ops]
        self.count = 0
        self.last_read: dict[str, str | None] = {}

    def next(self) -> PlannedOp:
        self.count += 1
        op = self.rng.choices(self.ops, self.weights)[0]
        key = f"{self.step.prefix}{self.rng.randrange(self.step.keys)}"
        value = f"c{self.client}-{self.count}"
        if op == "put":
            return PlannedOp("put", key, value)
        if op == "txn":
            return PlannedOp("txn", key, value, self.last_read.get(key))
        return PlannedOp(op, key)

    def observed(self, key: str, value: str | None) -> None:
        """A successful read: the next txn on ``key`` compares against it."""
        self.last_read[key] = value

    def pause(self) -> float:
        """Seconds between one operation's answer and the next (0: closed loop)."""
        rate = self.step.rate
        return self.step.clients / rate if rate > 0 else 0.0


def start_fields(step: WorkloadStep) -> dict[str, object]:
    """The fields of the ``workload`` start event, the same on both backends."""
    return {
        "phase": "start",
        "clients": step.clients,
        "duration": step.duration,
        "rate": step.rate,
        "keys": step.keys,
        "prefix": step.prefix,
    }


# --- etcd flags a scenario may set ----------------------------------------------------------

#: Flags etcdplay sets itself (identity, URLs, cluster, timers, logging): a
#: scenario cannot override them through ``cluster.etcd_flags``.
RESERVED_FLAGS = frozenset(
    {
        "name",
        "data-dir",
        "listen-client-urls",
        "advertise-client-urls",
        "listen-peer-urls",
        "initial-advertise-peer-urls",
        "initial-cluster",
        "initial-cluster-token",
        "initial-cluster-state",
        "heartbeat-interval",
        "election-timeout",
        "pre-vote",
        "logger",
        "log-outputs",
        "log-level",
        "config-file",
    }
)

#: What the simulator models of etcd's flags: none of these robustness knobs
#: (it has no snapshots, compaction, WAL segments or quotas).
SIM_MODELLED_FLAGS: frozenset[str] = frozenset()

_FLAG_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


def etcd_flag_args(flags: dict[str, str | int | float | bool]) -> list[str]:
    """``--name=value`` arguments for the extra flags; ValueError names a bad one."""
    args = []
    for name, value in flags.items():
        if not _FLAG_NAME.match(name):
            raise ValueError(f"cluster.etcd_flags: {name!r} is not an etcd flag name (write it without --)")
        if name in RESERVED_FLAGS:
            raise ValueError(f"cluster.etcd_flags: --{name} is set by etcdplay itself")
        text = str(value).lower() if isinstance(value, bool) else str(value)
        args.append(f"--{name}={text}")
    return args
