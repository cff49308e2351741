"""The leader-failover benchmark: configurations, one trial, and aggregation.

Each configuration is a ``FailoverConfig`` (one point of the grid the command
line spans). A trial runs ``etcdplay.sim.failover.run_failover_trial`` and keeps
only a small sample (downtime, time to first candidate, rounds, messages,
winner); a ``FailoverAggregate`` folds samples into a few compact arrays, so
memory grows by a few bytes per trial, never by a trace.
"""

from __future__ import annotations

import functools
import itertools
import math
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import ValidationError

from etcdplay.distributions import Distribution, DistributionError
from etcdplay.scenario import ClusterSpec
from etcdplay.sweep.errors import SweepError
from etcdplay.sweep.stats import rate, summarize

TIMERS = ("uniform", "etcd")


@dataclass(frozen=True, slots=True)
class FailoverConfig:
    """One configuration of the failover benchmark. Times in ms."""

    nodes: int = 5
    timer: str = "uniform"
    #: [lo, hi] for the uniform timer; etcd's --election-timeout for the etcd timer.
    election_timeout_ms: tuple[float, float] | float = (150.0, 300.0)
    heartbeat_ms: float = 75.0
    latency_ms: str = "uniform(0.5,1.5)"
    disk_ms: str = "fixed(1)"
    stale_followers: int = 0
    failed: int = 0
    pre_vote: bool = False
    check_quorum: bool = False

    @property
    def election_text(self) -> str:
        et = self.election_timeout_ms
        if isinstance(et, tuple):
            return f"{et[0]:g}-{et[1]:g}"
        return f"{et:g}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if isinstance(self.election_timeout_ms, tuple):
            data["election_timeout_ms"] = list(self.election_timeout_ms)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FailoverConfig:
        data = dict(data)
        et = data.get("election_timeout_ms")
        if isinstance(et, list):
            data["election_timeout_ms"] = (float(et[0]), float(et[1]))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


# --- the grid ----------------------------------------------------------------


def parse_election_timeout(text: str, timer: str) -> tuple[float, float] | float:
    """``150-300`` -> (150, 300) for the uniform timer (``150`` means 150-300, as
    in the scenario model); one number, etcd's --election-timeout, for etcd."""
    raw = text.strip()
    lo_text, dash, hi_text = raw.partition("-")
    try:
        numbers = [float(lo_text), float(hi_text)] if dash and lo_text else [float(raw)]
    except ValueError:
        raise SweepError(
            f"--election-timeout-ms {text!r}: expected a range in ms such as 150-300, or one number"
        ) from None
    if any(not 0 < v < math.inf for v in numbers):
        raise SweepError(f"--election-timeout-ms {text!r}: timeouts must be positive numbers of ms")
    if len(numbers) == 2:
        lo, hi = numbers
        if timer == "etcd":
            raise SweepError(
                f"--election-timeout-ms {text!r}: the etcd timer takes one number "
                "(etcd's --election-timeout, timeouts drawn from [et, 2*et)); a lo-hi "
                "range needs --timer uniform"
            )
        if lo > hi:
            raise SweepError(f"--election-timeout-ms {text!r}: the range needs lo <= hi")
        return (lo, hi)
    value = numbers[0]
    return value if timer == "etcd" else (value, 2 * value)


def _distribution(option: str, text: str) -> str:
    try:
        return str(Distribution.parse(text))
    except DistributionError as exc:
        raise SweepError(f"{option}: {exc}") from None


def default_heartbeat(timer: str, election: tuple[float, float] | float) -> float:
    """Half the smallest election timeout (the Raft paper's rule of thumb); for the
    etcd timer etcd's own ratio, heartbeat = election timeout / 10 (100 / 1000 ms)."""
    if isinstance(election, tuple):
        return election[0] / 2
    return election / 10


def validate(config: FailoverConfig) -> None:
    """Raise SweepError when a configuration cannot elect a new leader or is not a
    valid cluster (the scenario model's timer rules apply)."""
    try:
        ClusterSpec(
            size=config.nodes,
            timer=config.timer,
            heartbeat_ms=config.heartbeat_ms,
            election_timeout_ms=config.election_timeout_ms,
            pre_vote=config.pre_vote,
            check_quorum=config.check_quorum,
            disk_ms=config.disk_ms,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "cluster"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SweepError(f"configuration {describe(config)}: {where}: {message}") from None
    if config.nodes < 3:
        raise SweepError(f"--nodes {config.nodes}: a failover needs at least 3 servers")
    survivors = config.nodes - 1 - config.failed
    if config.failed < 0 or config.stale_followers < 0:
        raise SweepError("--failed and --stale-followers must be >= 0")
    if survivors < config.nodes // 2 + 1:
        raise SweepError(
            f"--failed {config.failed} with --nodes {config.nodes}: after the leader crashes only "
            f"{survivors} of {config.nodes} servers are up, no majority can elect a leader"
        )
    if config.stale_followers > survivors - 1:
        raise SweepError(
            f"--stale-followers {config.stale_followers}: only {survivors} servers survive and at "
            "least one must have a complete log to win"
        )
    try:
        _sim_params(config).validate()
    except ValueError as exc:
        raise SweepError(f"configuration {describe(config)}: {exc}") from None


def describe(config: FailoverConfig) -> str:
    return (
        f"nodes={config.nodes} timer={config.timer} et={config.election_text}ms "
        f"hb={config.heartbeat_ms:g}ms latency={config.latency_ms} disk={config.disk_ms} "
        f"stale={config.stale_followers} failed={config.failed}"
    )


def build_configs(
    *,
    nodes: Sequence[int],
    election_timeouts: Sequence[str],
    heartbeats: Sequence[float],
    latencies: Sequence[str],
    disks: Sequence[str],
    stale_followers: Sequence[int],
    failed: Sequence[int],
    timer: str,
    pre_vote: bool,
    check_quorum: bool,
) -> list[FailoverConfig]:
    """The grid: the product of every repeatable option, in option order, with the
    election timeout (then the heartbeat) varying fastest."""
    if timer not in TIMERS:
        raise SweepError(f"--timer {timer!r}: use one of {', '.join(TIMERS)}")
    elections = [parse_election_timeout(text, timer) for text in election_timeouts]
    lat = [_distribution("--latency-ms", text) for text in latencies]
    disk = [_distribution("--disk-ms", text) for text in disks]
    for hb in heartbeats:
        if not 0 < hb < math.inf:
            raise SweepError(f"--heartbeat-ms {hb:g}: must be a positive number of ms")
    out: list[FailoverConfig] = []
    for n, lat_ms, disk_ms, stale, fail, election in itertools.product(
        nodes, lat, disk, stale_followers, failed, elections
    ):
        for hb in heartbeats or [default_heartbeat(timer, election)]:
            config = FailoverConfig(
                nodes=n,
                timer=timer,
                election_timeout_ms=election,
                heartbeat_ms=float(hb),
                latency_ms=lat_ms,
                disk_ms=disk_ms,
                stale_followers=stale,
                failed=fail,
                pre_vote=pre_vote,
                check_quorum=check_quorum,
            )
            validate(config)
            out.append(config)
    if not out:
        raise SweepError("nothing to run: every repeatable option needs at least one value")
    return out


def labels(configs: Sequence[FailoverConfig]) -> list[str]:
    """Short names showing only what varies between configurations."""
    fields = [
        ("nodes", "n={}"),
        ("election_timeout_ms", "{} ms"),
        ("heartbeat_ms", "hb {:g}"),
        ("latency_ms", "lat {}"),
        ("disk_ms", "disk {}"),
        ("stale_followers", "stale {}"),
        ("failed", "failed {}"),
    ]
    derived_heartbeat = all(
        c.heartbeat_ms == default_heartbeat(c.timer, c.election_timeout_ms) for c in configs
    )
    varying = [
        (name, fmt)
        for name, fmt in fields
        if len({getattr(c, name) for c in configs}) > 1 and not (name == "heartbeat_ms" and derived_heartbeat)
    ] or [("election_timeout_ms", "{} ms")]
    out = []
    for config in configs:
        parts = []
        for name, fmt in varying:
            value = config.election_text if name == "election_timeout_ms" else getattr(config, name)
            parts.append(fmt.format(value))
        out.append(", ".join(parts))
    return out


# --- one trial -----------------------------------------------------------------

#: Sample fields, in the order they are written.
SAMPLE_FIELDS = (
    "downtime_ms",  # crash -> every survivor heard the new leader
    "election_ms",  # crash -> a new leader took the role (metrics.py's election time)
    "first_candidate_ms",  # crash -> first real candidate (a term bump)
    "first_campaign_ms",  # crash -> first pre-candidate or candidate
    "rounds",
    "split_votes",
    "messages",
    "winner",
)


@functools.lru_cache(maxsize=64)
def _sim_params(config: FailoverConfig) -> Any:
    from etcdplay.sim.failover import FailoverParams

    fields = set(FailoverParams.__dataclass_fields__)
    values: dict[str, Any] = {
        "nodes": config.nodes,
        "timer": config.timer,
        "election_timeout_ms": config.election_timeout_ms,
        "heartbeat_ms": config.heartbeat_ms,
        "latency_ms": config.latency_ms,
        "disk_ms": config.disk_ms,
        "stale_followers": config.stale_followers,
        "failed": config.failed,
        "pre_vote": config.pre_vote,
        "check_quorum": config.check_quorum,
    }
    return FailoverParams(**{k: v for k, v in values.items() if k in fields})


def _ms(value: Any) -> float | None:
    """Seconds (the simulator's unit) to ms, rounded to the trace's microsecond."""
    if value is None:
        return None
    return round(float(value) * 1000.0, 3)


def normalize(result: dict[str, Any]) -> dict[str, Any]:
    """The simulator's result as a sweep sample (ms, fixed field names)."""
    rounds = int(result.get("rounds", result.get("election_rounds", 1)) or 0)
    split = result.get("split_votes")
    return {
        "downtime_ms": _ms(result.get("downtime")),
        "election_ms": _ms(result.get("election")),
        "first_campaign_ms": _ms(result.get("first_campaign")),
        "first_candidate_ms": _ms(result.get("first_candidate", result.get("time_to_first_candidate"))),
        "rounds": rounds,
        "split_votes": int(split) if split is not None else max(0, rounds - 1),
        "messages": int(result.get("messages", 0) or 0),
        "winner": result.get("winner"),
    }


def sim_trial(config: FailoverConfig, seed: int) -> dict[str, Any]:
    """One simulated failover (runs in a worker)."""
    from etcdplay.sim.failover import run_failover_trial

    return normalize(run_failover_trial(_sim_params(config), seed))


# --- aggregation ------------------------------------------------------------------


class FailoverAggregate:
    """The running summary of one configuration's samples: a few floats per trial."""

    def __init__(self) -> None:
        self.downtime = array("d")
        self.first_candidate = array("d")
        self.trials = 0
        self.unresolved = 0
        self.split = 0
        self.rounds_total = 0
        self.messages_total = 0
        self.winners: Counter[str] = Counter()

    def add(self, sample: dict[str, Any]) -> None:
        self.trials += 1
        downtime = sample.get("downtime_ms")
        if downtime is None:
            self.unresolved += 1
        else:
            self.downtime.append(downtime)
        first = sample.get("first_candidate_ms")
        if first is not None:
            self.first_candidate.append(first)
        rounds = int(sample.get("rounds") or 0)
        self.rounds_total += rounds
        if int(sample.get("split_votes") or 0) > 0:
            self.split += 1
        self.messages_total += int(sample.get("messages") or 0)
        if sample.get("winner") is not None:
            self.winners[str(sample["winner"])] += 1

    def summary(self) -> dict[str, Any]:
        return {
            "trials": self.trials,
            "unresolved": self.unresolved,
            "downtime_ms": summarize(self.downtime),
            "first_candidate_ms": summarize(self.first_candidate),
            "rounds_mean": rate(self.rounds_total, self.trials),
            "split_vote_rate": rate(self.split, self.trials),
            "messages_mean": rate(self.messages_total, self.trials),
            "winners": dict(sorted(self.winners.items())),
        }
