"""The failover benchmark against a cluster behind the Backend protocol.

Used with ``--backend live`` (real etcd members from ``etcdplay.live``): one
cluster is started and, trial after trial, its leader is crashed at a random
point of its heartbeat interval, the downtime is read from the trace's
``role`` and ``leader`` events, and the crashed members are restarted. The
samples have the same fields as the simulator's, so ``sweep compare`` can put
both distributions side by side. The procedure only uses the protocol, so the
test suite runs it on the simulator's backend too.

What a real cluster cannot do: stale followers (their logs would have to be
made shorter on purpose) are refused; ``--disk-ms`` is whatever the disk is;
messages are not counted (``messages`` is null).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from typing import Any

from etcdplay.backend import Backend, NodeStatus
from etcdplay.scenario import Scenario, from_dict
from etcdplay.sweep.errors import SweepError
from etcdplay.sweep.failover import FailoverConfig
from etcdplay.trace import Event, TraceWriter

POLL = 0.02
#: How many settle periods to try before crashing a leader that is not steady.
STEADY_TRIES = 5
#: How long to wait for a leader (start, after each crash, after restarts), in s.
LEADER_WAIT = 30.0


def scenario_for(config: FailoverConfig) -> Scenario:
    """The cluster a live failover trial runs on (etcd's flags from the config)."""
    if config.stale_followers:
        raise SweepError("--stale-followers: not possible on a live cluster (use the simulator)")
    return from_dict(
        {
            "name": "failover-benchmark",
            "cluster": {
                "size": config.nodes,
                "timer": config.timer,
                "heartbeat_ms": config.heartbeat_ms,
                "election_timeout_ms": config.election_timeout_ms,
                "pre_vote": config.pre_vote,
                "check_quorum": config.check_quorum,
                "disk_ms": config.disk_ms,
            },
            "network": {"latency_ms": config.latency_ms},
        },
        "failover benchmark",
    )


class _Recorder:
    """Keeps only the role and leader events since the last crash."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        if self.since is not None and event["kind"] in ("role", "leader") and event["t"] >= self.since:
            self.events.append(event)

    def arm(self, t: float) -> None:
        self.since = t
        self.events = []


def _agreed_leader(statuses: list[NodeStatus]) -> str | None:
    """The leader every running member follows, or None."""
    running = [s for s in statuses if s.running]
    leaders = [s.name for s in running if s.role == "leader"]
    if len(leaders) != 1:
        return None
    leader = leaders[0]
    if all(s.leader == leader for s in running if s.name != leader):
        return leader
    return None


def _wait(backend: Backend, condition: Callable[[], Any], within: float, what: str) -> Any:
    deadline = backend.now() + within
    while True:
        value = condition()
        if value:
            return value
        if backend.now() >= deadline:
            raise SweepError(f"live failover: {what} within {within:g} s")
        backend.sleep(POLL)


def steady(events: list[Event]) -> bool:
    """No role or leader change at all in these events: nobody campaigned,
    stepped down or learned a new leader (a steady cluster logs none)."""
    return not any(e["kind"] in ("role", "leader") for e in events)


def measure(events: list[Event], crash_t: float, old: str, survivors: list[str]) -> dict[str, Any]:
    """A sample from the role/leader events after a crash at ``crash_t``.

    Downtime ends when every survivor has learned a new leader (its first
    ``leader`` event naming a server other than the crashed one); election
    time ends when a new leader takes the role (metrics.py's meaning).
    Events are taken by their time stamp, not in the order they arrived
    (each member's log is read separately, so arrival order is not time
    order). ``first_candidate_ms`` is the first real candidate (a term
    bump), ``first_campaign_ms`` the first pre-candidate or candidate, as
    in the simulator.
    """
    learned: dict[str, float] = {}
    winner: str | None = None
    elected: float | None = None
    first_candidate: float | None = None
    first_campaign: float | None = None
    terms: set[int] = set()
    for e in sorted(events, key=lambda e: float(e["t"])):
        t = float(e["t"])
        if e["kind"] == "leader":
            new = e.get("leader")
            node = e.get("node")
            if new and new != old and node in survivors and node not in learned:
                learned[str(node)] = t
                winner = winner or str(new)
        elif e["kind"] == "role":
            role = e.get("role")
            if role in ("pre-candidate", "candidate") and first_campaign is None:
                first_campaign = t
            if role == "candidate":
                if first_candidate is None:
                    first_candidate = t
                if e.get("term") is not None:
                    terms.add(int(e["term"]))
            elif role == "leader" and e.get("node") != old and elected is None:
                elected = t
    done = len(learned) == len(survivors)
    rounds = max(1, len(terms))
    return {
        "downtime_ms": round(1000 * (max(learned.values()) - crash_t), 3) if done else None,
        "election_ms": _ms_after(elected, crash_t),
        "first_candidate_ms": _ms_after(first_candidate, crash_t),
        "first_campaign_ms": _ms_after(first_campaign, crash_t),
        "rounds": rounds,
        "split_votes": rounds - 1,
        "messages": None,
        "winner": winner,
    }


def _ms_after(t: float | None, t0: float) -> float | None:
    return round(1000 * (t - t0), 3) if t is not None else None


def run_trials(
    config: FailoverConfig,
    seeds: list[int],
    backend: Backend,
    settle: float = 1.0,
) -> Iterator[dict[str, Any]]:
    """Yield one sample per seed; the backend is closed at the end, whatever happens."""
    scenario = scenario_for(config)
    trace = TraceWriter(
        {
            "backend": backend.name,
            "seed": seeds[0] if seeds else 0,
            "nodes": scenario.cluster.names,
            "scenario": scenario.to_dict(),
        },
        keep=False,
    )
    recorder = _Recorder()
    trace.subscribe(recorder)
    heartbeat = config.heartbeat_ms / 1000.0
    try:
        backend.start(scenario, trace, seeds[0] if seeds else 0)
        for seed in seeds:
            rng = random.Random(seed)
            leader = _wait(
                backend,
                lambda: _agreed_leader(backend.status()),
                LEADER_WAIT,
                "no leader that every member follows",
            )
            # Steady state, then crash at a uniformly random point of the heartbeat
            # interval. On a loaded machine with short timers a spurious election
            # can start while we wait: then the kill would land mid-election and
            # the sample would be shorter than any timeout. Wait again instead.
            pause = settle + rng.uniform(0.0, heartbeat)
            for _ in range(STEADY_TRIES):
                recorder.arm(backend.now())
                backend.sleep(pause)
                now_leader = _agreed_leader(backend.status())
                if now_leader == leader and steady(recorder.events):
                    break
                leader = _wait(
                    backend,
                    lambda: _agreed_leader(backend.status()),
                    LEADER_WAIT,
                    "no leader that every member follows",
                )
            recorder.since = None
            others = [n for n in backend.nodes() if n != leader]
            extra = sorted(rng.sample(others, config.failed)) if config.failed else []
            crash_t = backend.now()
            recorder.arm(crash_t)
            backend.crash([leader, *extra])
            survivors = [n for n in others if n not in extra]

            def all_learned(old: str = leader, survivors: list[str] = survivors, t0: float = crash_t) -> bool:
                return measure(recorder.events, t0, old, survivors)["downtime_ms"] is not None

            # Not all learned in time: recorded as unresolved (downtime null).
            with contextlib.suppress(SweepError):
                _wait(backend, all_learned, LEADER_WAIT, "the survivors did not all learn a new leader")
            sample = measure(list(recorder.events), crash_t, leader, survivors)
            recorder.since = None
            backend.restart([leader, *extra])
            _wait(
                backend,
                lambda: _agreed_leader(backend.status()),
                LEADER_WAIT,
                "the cluster did not settle after restarting the crashed members",
            )
            yield sample
    finally:
        backend.close()
