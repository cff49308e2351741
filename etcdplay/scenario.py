"""Scenarios: a cluster, a network and a timeline of steps, read from TOML.

A scenario is validated with pydantic so a mistake is reported with the file,
the step and the field (``ScenarioError``), never as a traceback. Built-in
scenarios live in ``etcdplay/scenarios/*.toml`` and are documented in
docs/scenarios.md. Generated schedules (``[chaos]``) are expanded into plain
steps from the run's seed, so the expanded scenario recorded in a trace header
replays exactly.
"""

from __future__ import annotations

import random
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from etcdplay.chaos import HARSH_KINDS, harsh_steps
from etcdplay.cost import too_costly
from etcdplay.distributions import Distribution, DistributionError
from etcdplay.nesting import nesting_message, too_deep
from etcdplay.sim.timers import MAX_JITTER_MS

#: Selectors resolved at run time against the cluster's status.
SELECTORS = (
    "leader",
    "follower",
    "followers",
    "majority",
    "minority",
    "all",
    "crashed",
    "running",
    "isolated",
    "random",
)
_SELECTOR_RE = re.compile(r"^(" + "|".join(SELECTORS) + r")(:(\d+))?$")
_NODE_RE = re.compile(r"^n(\d+)$")


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message names file, step and field."""


def node_names(size: int) -> list[str]:
    return [f"n{i}" for i in range(1, size + 1)]


def _check_distribution(value: Any) -> str:
    try:
        return str(Distribution.parse(value))
    except DistributionError as exc:
        raise ValueError(str(exc)) from None


#: The longest a scenario may ask to wait for anything (a step's time, a load, a
#: timeout): a day. Beyond that a run would look hung (the simulator runs an idle
#: cluster at about 1000x real time), and TOML's inf would never end.
MAX_SECONDS = 86400.0

#: The shortest heartbeat, etcd's (it takes whole milliseconds): below it the
#: simulator spends all its time on ticks (and a heartbeat of 1e-300 ms never
#: lets virtual time advance).
MIN_HEARTBEAT_MS = 1.0

#: etcd refuses an --election-timeout above 50 s; so does every scenario.
MAX_ELECTION_MS = 50000.0


def _shown(value: float | tuple[float, float]) -> str:
    return f"[{value[0]:g}, {value[1]:g}]" if isinstance(value, tuple) else f"{value:g}"


Seconds = Annotated[float, Field(ge=0, le=MAX_SECONDS)]


class _Model(BaseModel):
    # NaN and infinity (valid TOML) are refused everywhere: every comparison with
    # NaN is false, so it would slip past the range checks below.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ClusterSpec(_Model):
    # strict: TOML's `size = true` is not 1 member
    size: int = Field(3, ge=1, le=25, strict=True, description="number of members")
    timer: Literal["etcd", "uniform"] = Field(
        "etcd",
        description="etcd: a tick every heartbeat_ms, election timeout drawn in ticks from "
        "[election_timeout_ms, 2*election_timeout_ms); uniform: election timeout drawn "
        "uniformly from the range election_timeout_ms = [lo, hi] ms, as in the Raft paper",
    )
    heartbeat_ms: float = Field(
        100.0, ge=MIN_HEARTBEAT_MS, le=MAX_ELECTION_MS / 5, description="etcd --heartbeat-interval"
    )
    election_timeout_ms: float | tuple[float, float] = Field(
        1000.0, description="etcd --election-timeout, or [lo, hi] for the uniform timer"
    )
    pre_vote: bool = True
    check_quorum: bool = True
    disk_ms: str = Field("fixed(1)", description="disk write (fsync) latency distribution")
    clock_skew: float = Field(
        0.0,
        ge=0.0,
        lt=0.5,
        description="simulator only: each member's timers run at a rate drawn from "
        "[1 - skew, 1 + skew] (0: every clock true)",
    )
    # None (left out of the trace header, so traces stay as they were) or 0:
    # exact timers
    timer_jitter_ms: float | None = Field(
        None,
        ge=0.0,
        le=MAX_JITTER_MS,
        strict=True,  # TOML's `true` is not 1 ms
        description="simulator only, uniform timer: each election timeout fires late by a "
        "random amount drawn uniformly from [0, timer_jitter_ms] ms (a real timer's wake-up "
        "delay, e.g. Linux's 50 us timer slack: 0.05); unset or 0: exact timers",
    )
    etcd_flags: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="extra etcd flags for live members, e.g. {snapshot-count = 100} "
        "(etcdplay.workload.check_etcd_flags says which; the simulator models none)",
    )

    _disk = field_validator("disk_ms", mode="before")(_check_distribution)

    @model_validator(mode="after")
    def _timers_agree(self) -> ClusterSpec:
        et = self.election_timeout_ms
        if max(et if isinstance(et, tuple) else (et,)) > MAX_ELECTION_MS:
            raise ValueError(
                f"election_timeout_ms ({_shown(et)}) must be at most {MAX_ELECTION_MS:g}, as etcd requires"
            )
        if self.timer == "etcd":
            if self.timer_jitter_ms:
                raise ValueError(
                    "timer_jitter_ms: modelled for the uniform timer only (etcd's ticker does not "
                    "drift); leave it out or use timer = 'uniform'"
                )
            if isinstance(et, tuple):
                raise ValueError(
                    "election_timeout_ms: the etcd timer takes one number (etcd's "
                    "--election-timeout); use timer = 'uniform' for a [lo, hi] range"
                )
            if et < 5 * self.heartbeat_ms:
                raise ValueError(
                    f"election_timeout_ms ({et:g}) must be at least 5 x heartbeat_ms "
                    f"({self.heartbeat_ms:g}), as etcd requires"
                )
        else:
            lo, hi = et if isinstance(et, tuple) else (et, 2 * et)
            if not 0 < lo <= hi:
                raise ValueError(f"election_timeout_ms range [{lo:g}, {hi:g}] needs 0 < lo <= hi")
            if self.heartbeat_ms >= lo:
                raise ValueError(
                    f"heartbeat_ms ({self.heartbeat_ms:g}) must be below the smallest "
                    f"election timeout ({lo:g})"
                )
        return self

    @property
    def election_range_ms(self) -> tuple[float, float]:
        """The range election timeouts are drawn from, in ms."""
        et = self.election_timeout_ms
        if isinstance(et, tuple):
            return et
        return (et, 2 * et)

    @property
    def names(self) -> list[str]:
        return node_names(self.size)


class NetworkSpec(_Model):
    latency_ms: str = Field("uniform(0.5,1.5)", description="one-way message latency")
    loss: float = Field(0.0, ge=0.0, lt=1.0, description="probability a message is lost")
    # The harsher adversary, simulator only (see DisorderStep): Raft messages
    # duplicated / delivered out of order for the whole run.
    duplicate: float = Field(0.0, ge=0.0, le=1.0, description="probability a Raft message is duplicated")
    reorder: float = Field(0.0, ge=0.0, le=1.0, description="probability a Raft message skips FIFO order")
    reorder_ms: float = Field(
        20.0, ge=0.0, le=60000.0, description="how late (ms) a reordered or duplicate message may come"
    )

    _latency = field_validator("latency_ms", mode="before")(_check_distribution)


Target = str | list[str]


class _Step(_Model):
    at: float = Field(ge=0, le=MAX_SECONDS, description="seconds since scenario start")
    note: str | None = None


class _Targeted(_Step):
    target: Target


class CrashStep(_Targeted):
    action: Literal["crash"]


class StopStep(_Targeted):
    action: Literal["stop"]


class RestartStep(_Targeted):
    action: Literal["restart"]
    target: Target = "crashed"


class IsolateStep(_Targeted):
    action: Literal["isolate"]


class PartitionStep(_Step):
    action: Literal["partition"]
    groups: list[list[str]] = Field(min_length=1)


class HealStep(_Step):
    action: Literal["heal"]


class DelayStep(_Targeted):
    action: Literal["delay"]
    latency_ms: str

    _latency = field_validator("latency_ms", mode="before")(_check_distribution)


class DisorderStep(_Step):
    """Simulator only: Raft messages on every link touching ``target`` are
    duplicated and reordered until the next heal (real etcd talks over TCP,
    which does neither: the live backend skips the step with a note)."""

    action: Literal["disorder"]
    target: Target = "all"
    duplicate: float = Field(0.2, ge=0.0, le=1.0)
    reorder: float = Field(0.3, ge=0.0, le=1.0)
    spread_ms: float = Field(50.0, ge=0.0, le=60000.0)


class _ClientStep(_Step):
    # The member a client operation is sent to (etcd-play's "stress at a
    # member"); by default the client picks one, as etcd's client does.
    node: str | None = Field(None, description="member the client talks to (default: the client picks)")


class LoadStep(_ClientStep):
    action: Literal["load"]
    node: str | None = Field(
        None, description="member the client talks to, or 'leader': whoever leads when the load starts"
    )
    rate: float = Field(gt=0, le=100000, description="writes per second")
    duration: float = Field(gt=0, le=MAX_SECONDS)
    prefix: str = "load/"
    keys: int = Field(0, ge=0, le=10**9, description="cycle writes over this many keys (0: a new key each)")
    deletes: float = Field(0.0, ge=0.0, le=1.0, description="fraction of writes that are deletes")


class PutStep(_ClientStep):
    action: Literal["put"]
    key: str = Field(min_length=1)
    value: str = ""


class GetStep(_ClientStep):
    action: Literal["get"]
    key: str = Field(min_length=1)


class DeleteStep(_ClientStep):
    action: Literal["delete"]
    key: str = Field(min_length=1)


class WaitForLeaderStep(_Step):
    action: Literal["wait-for-leader"]
    timeout: float = Field(10.0, gt=0, le=MAX_SECONDS)


class ExpectStep(_Step):
    action: Literal["expect"]
    expect: Literal["leader", "no-leader", "single-leader", "converged", "leader-changed", "leader-unchanged"]
    target: Target | None = None
    within: float = Field(0.0, ge=0, le=MAX_SECONDS, description="seconds to wait for it to hold")


OpKind = Literal["put", "get", "delete", "txn"]


def _default_mix() -> dict[OpKind, float]:
    return {"put": 50.0, "get": 45.0, "delete": 5.0}


class WorkloadStep(_ClientStep):
    """Concurrent clients doing a put/get/delete/txn mix on a few keys, every
    operation recorded for the linearizability check (etcdplay.workload)."""

    action: Literal["workload"]
    clients: int = Field(4, ge=1, le=256)
    duration: float = Field(gt=0, le=MAX_SECONDS)
    rate: float = Field(0.0, ge=0, le=100000, description="ops/s over all clients; 0: as fast as they can")
    keys: int = Field(10, ge=1, le=100000)
    mix: dict[OpKind, float] = Field(default_factory=_default_mix)
    reads: Literal["linearizable", "serializable"] = "linearizable"
    prefix: str = "wl/"

    @model_validator(mode="after")
    def _mix_weights(self) -> WorkloadStep:
        if any(w < 0 for w in self.mix.values()) or sum(self.mix.values()) <= 0:
            raise ValueError("mix: weights must be >= 0 with a positive sum")
        return self


class WaitStep(_Step):
    """Nothing happens: the run goes on until ``at`` (a played session's end)."""

    action: Literal["wait"]


Step = Annotated[
    CrashStep
    | StopStep
    | RestartStep
    | IsolateStep
    | PartitionStep
    | HealStep
    | DelayStep
    | DisorderStep
    | LoadStep
    | PutStep
    | GetStep
    | DeleteStep
    | WaitForLeaderStep
    | ExpectStep
    | WorkloadStep
    | WaitStep,
    Field(discriminator="action"),
]

ACTIONS = (
    "crash",
    "stop",
    "restart",
    "isolate",
    "partition",
    "heal",
    "delay",
    "disorder",
    "load",
    "put",
    "get",
    "delete",
    "wait-for-leader",
    "expect",
    "workload",
    "wait",
)

FaultKind = Literal[
    "crash",
    "stop",
    "isolate",
    "partition",
    "delay",
    # the harsher adversary (etcdplay/chaos.py)
    "crash-majority",
    "crash-election",
    "partition-election",
    "stale-election",
    "minority-leader",
    "disorder",
    "figure-8",
    "stale-tail",
    "laggard",
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)


def _default_fault_kinds() -> list[FaultKind]:
    return ["crash", "isolate", "partition", "delay"]


#: The least time (s) a chaos schedule gives each fault.
MIN_CHAOS_SLOT = 0.01


class ChaosSpec(_Model):
    """A random fault schedule, expanded into steps from the run's seed."""

    start: float = Field(2.0, ge=0, le=MAX_SECONDS)
    duration: float = Field(30.0, gt=0, le=MAX_SECONDS)
    faults: int = Field(6, ge=1, le=1000, strict=True)
    kinds: list[FaultKind] = Field(default_factory=_default_fault_kinds, min_length=1)
    hold: tuple[Seconds, Seconds] = Field((1.0, 4.0), description="how long a fault lasts, [lo, hi] s")
    latency_ms: str = "uniform(50,200)"
    load_rate: float = Field(50.0, ge=0, le=100000)
    load_keys: int = Field(0, ge=0, le=10**9, description="the load's key space (0: a new key per write)")
    load_deletes: float = Field(0.0, ge=0.0, le=1.0, description="fraction of the load's writes that delete")
    duplicate: float = Field(0.2, ge=0.0, le=1.0, description="'disorder' faults: duplication probability")
    reorder: float = Field(0.3, ge=0.0, le=1.0, description="'disorder' faults: reordering probability")

    _latency = field_validator("latency_ms", mode="before")(_check_distribution)

    @model_validator(mode="after")
    def _schedule_fits(self) -> ChaosSpec:
        lo, hi = self.hold
        if lo > hi:
            raise ValueError(f"hold [{lo:g}, {hi:g}] needs lo <= hi")
        # Step times are rounded to the millisecond: slots much shorter than that
        # would let one fault's undo land after the next fault.
        if self.duration / self.faults < MIN_CHAOS_SLOT * (1 - 1e-9):
            raise ValueError(
                f"{self.faults} faults in {self.duration:g} s is too dense: give each fault at "
                f"least {MIN_CHAOS_SLOT:g} s (raise duration or lower faults)"
            )
        return self


class Scenario(_Model):
    name: str = "custom"
    description: str = ""
    explain: str = Field("", description="prose for learners: what this shows about Raft")
    settle: float = Field(
        5.0, ge=0, le=MAX_SECONDS, description="seconds to wait after the last step for convergence"
    )
    status_interval: float = Field(0.25, ge=0.01, le=60, description="seconds between status events")
    cluster: ClusterSpec = Field(default_factory=ClusterSpec)
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    steps: list[Step] = Field(default_factory=list)
    chaos: ChaosSpec | None = None

    @model_validator(mode="after")
    def _steps_make_sense(self) -> Scenario:
        names = set(self.cluster.names)
        last = 0.0
        for index, step in enumerate(self.steps):
            where = f"steps[{index}] ({step.action})"
            if step.at < last:
                raise ValueError(f"{where}: at = {step.at:g} comes before the previous step's {last:g}")
            last = step.at
            target = getattr(step, "target", None)
            if target is not None:
                _check_target(target, names, f"{where}.target")
            member = getattr(step, "node", None)
            # a load may be sent to whoever leads when it starts
            leads = member == "leader" and isinstance(step, LoadStep)
            if member is not None and member not in names and not leads:
                raise ValueError(
                    f"{where}.node: no member {member!r} in a cluster of {len(names)} "
                    f"(members are {', '.join(self.cluster.names)})"
                )
            if isinstance(step, PartitionStep):
                seen: set[str] = set()
                for g, group in enumerate(step.groups):
                    if not group:
                        raise ValueError(f"{where}.groups[{g}]: a group must name at least one node")
                    for item in group:
                        _check_target(item, names, f"{where}.groups[{g}]")
                        if item in seen:
                            raise ValueError(f"{where}.groups: {item!r} is named twice")
                        seen.add(item)
        costly = too_costly(self)
        if costly is not None:
            raise ValueError(costly)
        return self

    @property
    def duration(self) -> float:
        """When the last step starts (loads may run past it)."""
        end = 0.0
        for step in self.steps:
            end = max(end, step.at + (step.duration if isinstance(step, LoadStep | WorkloadStep) else 0.0))
        return end

    def expanded(self, seed: int) -> Scenario:
        """The scenario with any generated schedule turned into plain steps."""
        if self.chaos is None:
            return self
        try:
            generated = _chaos_steps(self.chaos, self.cluster, random.Random(f"chaos:{seed}"))
        except ValidationError as exc:  # pragma: no cover - ChaosSpec's checks should prevent it
            raise ScenarioError(f"[chaos] cannot be expanded with seed {seed}: {exc}") from None
        steps = sorted([*self.steps, *generated], key=lambda s: s.at)
        return self.model_copy(update={"steps": steps, "chaos": None})

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def _check_target(target: Target, names: set[str], where: str) -> None:
    items = [target] if isinstance(target, str) else target
    if not items:
        raise ValueError(f"{where}: empty target list")
    for item in items:
        if item in names:
            continue
        match = _SELECTOR_RE.match(item)
        if match:
            count = match.group(3)
            if count is not None and int(count) > len(names):
                raise ValueError(f"{where}: {item!r} asks for {count} members; the cluster has {len(names)}")
            continue
        if _NODE_RE.match(item):
            raise ValueError(
                f"{where}: no node {item!r} in a cluster of {len(names)} "
                f"(nodes are {', '.join(sorted(names, key=lambda n: int(n[1:])))})"
            )
        raise ValueError(
            f"{where}: {item!r} is neither a node name (n1, n2, ...) nor a selector "
            f"({', '.join(SELECTORS)}, optionally with :count)"
        )


def parse_selector(item: str) -> tuple[str, int | None]:
    """('followers', 2) for 'followers:2'; (name, None) for a node name."""
    match = _SELECTOR_RE.match(item)
    if not match:
        return item, None
    count = match.group(3)
    return match.group(1), int(count) if count else None


def _chaos_steps(chaos: ChaosSpec, cluster: ClusterSpec, rng: random.Random) -> list[Any]:
    """A fault schedule: each fault at a random time, held for a while, then undone.

    Faults never overlap, so every fault's effect (an election, a partition) is
    seen on its own, and at most a minority is ever down, so a leader can always
    be elected again.
    """
    steps: list[dict[str, Any]] = []
    if chaos.load_rate > 0:
        load: dict[str, Any] = {
            # rounded like the fault times below, so no fault can round to before it
            "at": round(chaos.start, 3),
            "action": "load",
            "rate": chaos.load_rate,
            "duration": chaos.duration,
            "prefix": "chaos/",
        }
        if chaos.load_keys:
            load["keys"] = chaos.load_keys
        if chaos.load_deletes:
            load["deletes"] = chaos.load_deletes
        steps.append(load)
    slot = chaos.duration / chaos.faults
    minority = max(1, (cluster.size - 1) // 2)
    for i in range(chaos.faults):
        begin = chaos.start + i * slot
        hold = min(rng.uniform(*chaos.hold), slot * 0.6)
        at = round(begin + rng.uniform(0, slot - hold) * 0.5, 3)
        kind = rng.choice(chaos.kinds)
        undo_at = round(at + hold, 3)
        target = rng.choice(["leader", "follower"])
        if kind in ("crash", "stop"):
            count = rng.randint(1, minority)
            sel = target if count == 1 else f"random:{count}"
            steps.append({"at": at, "action": kind, "target": sel, "note": "chaos"})
            steps.append({"at": undo_at, "action": "restart", "target": "crashed", "note": "chaos"})
        elif kind in HARSH_KINDS:
            steps.extend(harsh_steps(kind, at, undo_at, slot, chaos, cluster, rng))
        elif kind == "isolate":
            steps.append({"at": at, "action": "isolate", "target": target, "note": "chaos"})
            steps.append({"at": undo_at, "action": "heal", "note": "chaos"})
        elif kind == "partition":
            count = rng.randint(1, minority)
            steps.append(
                {
                    "at": at,
                    "action": "partition",
                    "note": "chaos",
                    "groups": [[f"random:{count}"] if count > 1 else [target]],
                }
            )
            steps.append({"at": undo_at, "action": "heal", "note": "chaos"})
        else:
            steps.append(
                {
                    "at": at,
                    "action": "delay",
                    "target": target,
                    "latency_ms": chaos.latency_ms,
                    "note": "chaos",
                }
            )
            steps.append({"at": undo_at, "action": "heal", "note": "chaos"})
    holder = Scenario.model_validate({"cluster": cluster.model_dump(), "steps": steps})
    return list(holder.steps)


# --- loading -----------------------------------------------------------------


def _format_validation(source: str, exc: ValidationError, data: dict[str, Any]) -> str:
    lines = [f"{source}: invalid scenario"]
    for err in exc.errors():
        loc = list(err["loc"])
        parts: list[str] = []
        i = 0
        while i < len(loc):
            item = loc[i]
            if item == "steps" and i + 1 < len(loc) and isinstance(loc[i + 1], int):
                idx = int(loc[i + 1])
                steps = data.get("steps") or []
                action = (
                    steps[idx].get("action", "?")
                    if idx < len(steps) and isinstance(steps[idx], dict)
                    else "?"
                )
                parts.append(f"steps[{idx}] ({action}, the {_ordinal(idx + 1)} [[steps]])")
                i += 2
                # pydantic adds the union tag (e.g. 'crash') next: skip it
                if i < len(loc) and loc[i] in ACTIONS:
                    i += 1
                continue
            if isinstance(item, str) and item.startswith("function-"):
                i += 1
                continue
            parts.append(str(item))
            i += 1
        where = ".".join(parts) if parts else "scenario"
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        elif err["type"] == "union_tag_invalid":
            message = f"unknown action; expected one of: {', '.join(ACTIONS)}"
        elif err["type"] == "union_tag_not_found":
            message = "missing 'action'"
        message = message.removeprefix("Value error, ")
        lines.append(f"  {where}: {message}")
    return "\n".join(lines)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def from_dict(data: dict[str, Any], source: str = "<scenario>") -> Scenario:
    if too_deep(data):
        raise ScenarioError(f"{source}: invalid scenario: {nesting_message()}")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_validation(source, exc, data)) from None


def from_toml(text: str, source: str) -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ScenarioError(f"{source}: invalid scenario: {nesting_message()}") from None
    return from_dict(data, source)


def builtin_names() -> list[str]:
    folder = resources.files("etcdplay") / "scenarios"
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def load_builtin(name: str) -> Scenario:
    path = resources.files("etcdplay") / "scenarios" / f"{name}.toml"
    return from_toml(path.read_text(encoding="utf-8"), f"built-in scenario {name!r}")


def load(name_or_path: str) -> Scenario:
    """A built-in scenario by name, or a TOML file by path."""
    path = Path(name_or_path)
    if name_or_path in builtin_names():
        return load_builtin(name_or_path)
    if path.suffix == ".toml" or path.exists() or "/" in name_or_path:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ScenarioError(f"{name_or_path}: no such scenario file") from None
        except (IsADirectoryError, UnicodeDecodeError):
            raise ScenarioError(f"{name_or_path}: not a readable TOML scenario file") from None
        except OSError as exc:
            raise ScenarioError(f"{name_or_path}: cannot read ({exc.strerror or exc})") from None
        return from_toml(text, name_or_path)
    raise ScenarioError(
        f"unknown scenario {name_or_path!r}: not a built-in ({', '.join(builtin_names())}) "
        "and not a .toml file"
    )
