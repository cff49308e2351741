"""What a scenario will cost to run, estimated before it runs.

Every field of a scenario can be within its own bounds while the whole is
absurd: 100,000 writes/s for a day, 25 members ticking every 0.1 ms. Such a
run would look hung for hours. The work is dominated by peer messages and
timer ticks, which are easy to count ahead: a run whose estimate exceeds
``MAX_WORK`` is refused with the estimate, before anything starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from etcdplay.scenario import Scenario

#: Peer messages plus timer ticks a run may cost. The pure-Python simulator
#: handles a few thousand per second and the compiled core about 40x more
#: (README, Benchmarks), so this is minutes compiled, hours without.
MAX_WORK = 50_000_000

#: Peer messages per write and follower: append, its answer, and the
#: heartbeat that carries the new commit index, with its answer.
MESSAGES_PER_WRITE_AND_FOLLOWER = 4.5


@dataclass(frozen=True)
class Cost:
    seconds: float  # simulated time, roughly
    writes: float
    messages: float
    ticks: float

    @property
    def work(self) -> float:
        return self.messages + self.ticks

    def describe(self) -> str:
        return (
            f"about {self.writes:,.0f} writes, {self.messages:,.0f} peer messages and "
            f"{self.ticks:,.0f} timer ticks over {self.seconds:,.0f} s of cluster time"
        )


def estimate(scenario: Scenario) -> Cost:
    from etcdplay.distributions import Distribution
    from etcdplay.scenario import ExpectStep, LoadStep, WaitForLeaderStep

    cluster = scenario.cluster
    # steps that wait for a condition can hold the run up to their timeout
    blocking = sum(s.timeout for s in scenario.steps if isinstance(s, WaitForLeaderStep)) + sum(
        s.within for s in scenario.steps if isinstance(s, ExpectStep)
    )
    seconds = scenario.duration + scenario.settle + blocking
    writes = sum(s.rate * s.duration for s in scenario.steps if isinstance(s, LoadStep))
    if scenario.chaos is not None:
        chaos = scenario.chaos
        seconds = max(seconds, chaos.start + chaos.duration + scenario.settle)
        writes += chaos.load_rate * chaos.duration
    followers = cluster.size - 1
    per_second = 1000.0 / cluster.heartbeat_ms
    heartbeats = 2 * followers * per_second * seconds
    messages = heartbeats + writes * MESSAGES_PER_WRITE_AND_FOLLOWER * followers
    lo_ms = cluster.election_range_ms[0]
    if lo_ms < 2 * Distribution.parse(scenario.network.latency_ms).mean_ms:
        # election timeouts shorter than a round trip: every member campaigns
        # all the time, each round a vote request and answer to every peer
        messages += 2 * cluster.size * followers * (1000.0 / lo_ms) * seconds
    ticks = cluster.size * per_second * seconds
    return Cost(seconds, writes, messages, ticks)


def too_costly(scenario: Scenario) -> str | None:
    """None for a scenario within ``MAX_WORK``; else why it is refused, with the estimate."""
    cost = estimate(scenario)
    if cost.work <= MAX_WORK:
        return None
    return (
        f"this scenario would cost {cost.describe()}: more than the {MAX_WORK:,} messages and "
        "ticks a run may take (lower load rates or durations, the heartbeat rate, or the cluster size)"
    )
