"""The Backend protocol: what the scenario runner, the web page and the terminal
view may ask of a cluster, simulated or real.

Both backends implement it: ``etcdplay.sim.backend.SimBackend`` (virtual time)
and ``etcdplay.live.backend.LiveBackend`` (real etcd processes, wall time).
Every operation may be called at any moment, not only from a timeline, and
everything a backend observes goes into the run's ``TraceWriter``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol, runtime_checkable

from etcdplay.distributions import Distribution
from etcdplay.scenario import Scenario
from etcdplay.trace import TraceWriter


class BackendError(RuntimeError):
    """A backend could not do what was asked; the message says what and why."""


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """One member as the backend sees it now. ``None`` means unknown (e.g. down)."""

    name: str
    running: bool
    role: str | None = None  # follower | pre-candidate | candidate | leader
    term: int | None = None
    leader: str | None = None
    commit: int | None = None
    applied: int | None = None
    revision: int | None = None
    keys: int | None = None
    hash: str | None = None
    db_size: int | None = None  # live only: bytes of the member's database file

    def as_fields(self) -> dict[str, Any]:
        """The fields of a trace ``status`` event (without ``name``)."""
        # asdict would deep-copy; every field is a str, bool, int or None.
        out = {f: getattr(self, f) for f in _STATUS_FIELDS}
        if self.db_size is not None:  # only live members have one
            out["db_size"] = self.db_size
        return out


_STATUS_FIELDS = tuple(f.name for f in fields(NodeStatus) if f.name not in ("name", "db_size"))


@dataclass(frozen=True, slots=True)
class OpResult:
    """The outcome of one client operation."""

    ok: bool
    latency: float  # seconds
    value: str | None = None
    error: str | None = None
    node: str | None = None  # the member that served it, when known


@runtime_checkable
class Backend(Protocol):
    """A cluster the runner can drive. Times are seconds since ``start``."""

    name: str  # "sim" or "live"

    def start(self, scenario: Scenario, trace: TraceWriter, seed: int) -> None:
        """Bring the cluster up (members started, status events begin)."""

    def now(self) -> float:
        """Seconds since start: virtual for the simulator, wall for live."""

    def sleep(self, seconds: float) -> None:
        """Let the cluster run for ``seconds`` (the simulator advances virtual time)."""

    def sleep_until(self, t: float) -> None:
        """Let the cluster run until ``now() == t`` exactly (nothing if already
        past). The simulator reaches ``t`` itself, not ``now + (t - now)``,
        which float rounding can move by an ulp: a step recorded at ``t`` in
        an interactive session then replays at the very same instant."""

    def nodes(self) -> list[str]:
        """All member names, n1..nN."""

    def status(self) -> list[NodeStatus]:
        """The current status of every member, in name order."""

    def crash(self, nodes: Sequence[str]) -> None:
        """Kill abruptly (SIGKILL): volatile state lost, persisted state kept."""

    def stop(self, nodes: Sequence[str]) -> None:
        """Stop gracefully (SIGTERM)."""

    def restart(self, nodes: Sequence[str]) -> None:
        """Start crashed or stopped members again with their persisted state."""

    def partition(self, groups: Sequence[Sequence[str]]) -> None:
        """Cut the network so members in different groups cannot talk. Members
        not named in any group form one more group together."""

    def heal(self) -> None:
        """Remove every partition and added delay."""

    def delay(self, nodes: Sequence[str], latency: Distribution) -> None:
        """Add ``latency`` (each way) to every peer link touching ``nodes``."""

    # ``node``: the member the client sends the request to (it forwards a
    # write to the leader, as etcd does); None lets the client pick.

    def put(self, key: str, value: str, node: str | None = None) -> OpResult: ...

    def get(self, key: str, node: str | None = None) -> OpResult: ...

    def delete(self, key: str, node: str | None = None) -> OpResult: ...

    def start_load(self, rate: float, duration: float, prefix: str, node: str | None = None) -> None:
        """Write at ``rate`` per second for ``duration`` seconds in the background,
        recording every write as a ``client`` event; returns at once."""

    def load_running(self) -> bool:
        """Whether a load started by ``start_load`` is still writing."""

    def read_all(self, prefix: str) -> dict[str, str] | None:
        """Every key under ``prefix`` as a linearizable read through the leader,
        or ``None`` when no leader can serve it."""

    def close(self) -> None:
        """Stop everything and release every process, port and temp directory."""
