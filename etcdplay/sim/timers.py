"""Timer models: when a node's election timeout, heartbeat and check-quorum fire.

Two models, chosen by ``ClusterSpec.timer``:

* ``UniformTimers`` — the Raft paper's: every reset draws a fresh election
  timeout uniformly from [lo, hi]; a leader heartbeats every ``heartbeat``
  seconds and checks its quorum every ``lo`` seconds. With
  ``reset_on_step_down=False`` (the default) it resets as LogCabin, the
  paper's implementation, does: on a leader's AppendEntries, a granted vote,
  its own campaign and when a leader steps down, but *not* when a follower or
  candidate merely steps down to a higher term (LogCabin's
  ``RaftConsensus::stepDown`` calls ``setElectionTimer`` only for a former
  leader). ``reset_on_step_down=True`` resets there too, as etcd does.
* ``EtcdTickTimers`` — etcd's: one tick every ``heartbeat`` seconds, at a
  per-node phase (members start at different moments). A randomized election
  timeout is drawn in whole ticks from [election_ticks, 2*election_ticks) when
  the term or role changes (etcd's ``reset(term)``); the election fires when
  that many ticks have elapsed since the last reset (a heartbeat received only
  zeroes the count, as etcd's ``electionElapsed = 0`` does). A leader
  heartbeats on every tick (etcd's HeartbeatTick=1) and checks its quorum
  every election_ticks ticks. Because time is counted in ticks, the real
  timeout is quantized: somewhere in ((n-1)*tick, n*tick] after the reset.

Cancellation never interrupts anything: each scheduled call carries the
generation it was made for, and a call from an old generation does nothing.
The uniform election timer is also lazy: a reset only moves the deadline, and
the pending call re-arms itself at the deadline when it fires early. Followers
reset on every heartbeat, so this saves one heap entry per heartbeat.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from etcdplay.sim.clock import Scheduler

Fire = Callable[[], None]
_EPS = 1e-9  # float slack when a re-armed call lands a hair before its deadline
#: the largest timer jitter accepted, ms (a timer a second late is no jitter)
MAX_JITTER_MS = 1000.0


@dataclass(frozen=True, slots=True)
class TimerHooks:
    """What a node wants called when a timer fires."""

    election: Fire
    heartbeat: Fire
    check_quorum: Fire


class NodeTimers(Protocol):
    """The timers of one running node."""

    def start(self, leader: bool) -> None: ...

    def stop(self) -> None:
        """Cancel everything (crash or stop)."""

    def reset_election(self, term: int, role: str, contact: bool = True) -> None:
        """The core asked for its election timer to be reset; ``contact``:
        for a leader's append, a granted vote or a campaign (not only for
        stepping down to a higher term)."""

    def in_lease(self) -> bool | None:
        """etcd's lease in ticks (electionElapsed < electionTimeout), or None
        when the model counts no ticks (the core measures time instead)."""

    def set_leader(self, leader: bool) -> None:
        """The node became or stopped being leader."""

    def election_deadline(self) -> tuple[float | None, float]:
        """(when the election timer fires if nothing resets it, or None for a
        leader; the full timeout in seconds): what a view draws running down."""


class TimerModel(Protocol):
    """Makes the timers of each node of a cluster."""

    @property
    def base_election_timeout(self) -> float:
        """Seconds: what the Raft core is told (its check-quorum lease)."""

    def for_node(self, scheduler: Scheduler, rng: random.Random, hooks: TimerHooks) -> NodeTimers: ...

    def skewed(self, rate: float) -> TimerModel:
        """The same model on a clock running at ``rate`` (1.0: true time; 1.1:
        10 % fast, so every timeout and tick is 10 % shorter in true time)."""


# --- the Raft paper's model -----------------------------------------------------


class ElectionTimer:
    """A lazily re-armed deadline drawn uniformly from [lo, hi] at each reset.

    ``jitter`` (seconds, 0: none): a real timer wakes its thread late by a
    small random amount (timer slack, scheduling, the event loop), drawn
    here uniformly from [0, jitter] at each reset, after the timeout itself
    (so a jitter of 0 draws exactly as before). A server that campaigns
    re-arms from the moment it woke, so the lateness accumulates round after
    round and fixed timeouts drift apart.
    """

    __slots__ = (
        "_armed_at",
        "_deadline",
        "_drawn",
        "_fire",
        "_gen",
        "_hi",
        "_jitter",
        "_lo",
        "_rng",
        "_sched",
        "running",
    )

    def __init__(
        self,
        scheduler: Scheduler,
        rng: random.Random,
        lo: float,
        hi: float,
        fire: Fire,
        jitter: float = 0.0,
    ) -> None:
        self._sched = scheduler
        self._rng = rng
        self._lo, self._hi = lo, hi
        self._jitter = jitter
        self._fire = fire
        self._gen = 0
        self._deadline = 0.0
        self._drawn = 0.0  # the timeout drawn at the last reset
        self._armed_at: float | None = None  # when the pending call runs
        self.running = False

    def reset(self) -> None:
        now = self._sched.now()
        self._drawn = self._rng.uniform(self._lo, self._hi)
        self._deadline = now + self._drawn
        if self._jitter:
            self._deadline += self._rng.uniform(0.0, self._jitter)
        self.running = True
        if self._armed_at is None or self._armed_at > self._deadline:
            self._arm(now)

    def cancel(self) -> None:
        self.running = False
        self._armed_at = None
        self._gen += 1

    @property
    def deadline(self) -> float:
        return self._deadline

    @property
    def timeout(self) -> float:
        return self._drawn

    def _arm(self, now: float) -> None:
        self._gen += 1
        self._armed_at = self._deadline
        self._sched.call_later(self._deadline - now, self._check, self._gen)

    def _check(self, gen: int) -> None:
        if gen != self._gen or not self.running:
            return
        now = self._sched.now()
        if now + _EPS < self._deadline:
            self._arm(now)
            return
        self._armed_at = None
        self.running = False
        self._fire()


class PeriodicTimer:
    """Calls ``fire`` every ``interval`` seconds until cancelled."""

    __slots__ = ("_fire", "_gen", "_interval", "_sched")

    def __init__(self, scheduler: Scheduler, interval: float, fire: Fire) -> None:
        self._sched = scheduler
        self._interval = interval
        self._fire = fire
        self._gen = 0

    def start(self, first_after: float | None = None) -> None:
        self._gen += 1
        delay = self._interval if first_after is None else first_after
        self._sched.call_later(delay, self._tick, self._gen)

    def cancel(self) -> None:
        self._gen += 1

    def _tick(self, gen: int) -> None:
        if gen != self._gen:
            return
        self._sched.call_later(self._interval, self._tick, gen)
        self._fire()


class UniformNodeTimers:
    def __init__(
        self,
        scheduler: Scheduler,
        rng: random.Random,
        lo: float,
        hi: float,
        heartbeat: float,
        hooks: TimerHooks,
        reset_on_step_down: bool = False,
        jitter: float = 0.0,
    ) -> None:
        self.election = ElectionTimer(scheduler, rng, lo, hi, self._election, jitter)
        self.reset_on_step_down = reset_on_step_down
        self.heartbeat = PeriodicTimer(scheduler, heartbeat, hooks.heartbeat)
        self.check_quorum = PeriodicTimer(scheduler, lo, hooks.check_quorum)
        self._hooks = hooks
        self._leader = False

    def start(self, leader: bool) -> None:
        self.set_leader(leader)
        if not leader:
            self.election.reset()

    def stop(self) -> None:
        self.election.cancel()
        self.heartbeat.cancel()
        self.check_quorum.cancel()

    def reset_election(self, term: int, role: str, contact: bool = True) -> None:
        if not self._leader and (contact or self.reset_on_step_down):
            self.election.reset()

    def in_lease(self) -> bool | None:
        return None

    def set_leader(self, leader: bool) -> None:
        if leader == self._leader:
            return
        self._leader = leader
        if leader:
            self.election.cancel()
            self.heartbeat.start()
            self.check_quorum.start()
        else:
            self.heartbeat.cancel()
            self.check_quorum.cancel()
            self.election.reset()

    def election_deadline(self) -> tuple[float | None, float]:
        if self._leader or not self.election.running:
            return None, 0.0
        return self.election.deadline, self.election.timeout

    def _election(self) -> None:
        # A campaign that goes nowhere must time out again: re-arm before
        # calling the core (which may also ask for a reset; either is fine).
        self.election.reset()
        self._hooks.election()


@dataclass(frozen=True, slots=True)
class UniformTimerModel:
    lo: float  # seconds
    hi: float
    heartbeat: float
    reset_on_step_down: bool = False  # False: LogCabin's (the paper's); True: etcd's
    jitter: float = 0.0  # seconds: each election timeout fires late by uniform(0, jitter)

    @property
    def base_election_timeout(self) -> float:
        return self.lo

    def for_node(self, scheduler: Scheduler, rng: random.Random, hooks: TimerHooks) -> NodeTimers:
        return UniformNodeTimers(
            scheduler, rng, self.lo, self.hi, self.heartbeat, hooks, self.reset_on_step_down, self.jitter
        )

    def skewed(self, rate: float) -> TimerModel:
        # the lateness is the waking thread's, not the clock's: not scaled
        return UniformTimerModel(
            self.lo / rate, self.hi / rate, self.heartbeat / rate, self.reset_on_step_down, self.jitter
        )


# --- etcd's tick model ----------------------------------------------------------------


class EtcdTickTimers:
    """One node's ticker, counting as etcd's raft.tickElection/tickHeartbeat do."""

    def __init__(
        self,
        scheduler: Scheduler,
        rng: random.Random,
        tick: float,
        election_ticks: int,
        hooks: TimerHooks,
        boot_advance: int = 0,
    ) -> None:
        self._sched = scheduler
        self._boot_advance = boot_advance
        self._rng = rng
        self._tick_s = tick
        self.election_ticks = election_ticks
        self._hooks = hooks
        self._gen = 0
        self._leader = False
        self.elapsed = 0  # etcd's electionElapsed
        self.randomized = election_ticks  # etcd's randomizedElectionTimeout
        self._drawn_for: tuple[int, str] | None = None
        self._next_tick = 0.0  # when the next tick comes

    def start(self, leader: bool) -> None:
        self._gen += 1
        self._leader = leader
        # etcd's --initial-election-tick-advance (on by default): a member that
        # (re)starts fast-forwards its election clock, so a fresh cluster
        # elects in [2, election_ticks + 2) ticks instead of a full timeout.
        self.elapsed = 0 if leader else self._boot_advance
        self._draw()
        # The phase: members boot at different moments, so their ticks do not
        # line up. Drawn per (re)start.
        phase = self._rng.uniform(0.0, self._tick_s)
        self._next_tick = self._sched.now() + phase
        self._sched.call_later(phase, self._tick, self._gen)

    def stop(self) -> None:
        self._gen += 1

    def _draw(self) -> None:
        self.randomized = self.election_ticks + self._rng.randrange(self.election_ticks)

    def reset_election(self, term: int, role: str, contact: bool = True) -> None:
        self.elapsed = 0
        # etcd redraws only in reset(term), i.e. when term or role changes; a
        # heartbeat from the leader just zeroes the count.
        drawn = self._drawn_for
        if drawn is None or drawn[0] != term or drawn[1] != role:
            self._drawn_for = (term, role)
            self._draw()

    def set_leader(self, leader: bool) -> None:
        if leader != self._leader:
            self._leader = leader
            self.elapsed = 0

    def in_lease(self) -> bool | None:
        # etcd's inLease: the voter's own electionElapsed, counted in its
        # ticks, so whether it ignores a candidate depends on tick phases
        return self.elapsed < self.election_ticks

    def election_deadline(self) -> tuple[float | None, float]:
        if self._leader:
            return None, 0.0
        # the election fires on the tick that brings elapsed to randomized
        remaining = max(1, self.randomized - self.elapsed)
        return self._next_tick + (remaining - 1) * self._tick_s, self.randomized * self._tick_s

    def _tick(self, gen: int) -> None:
        if gen != self._gen:
            return
        self._next_tick = self._sched.now() + self._tick_s
        self._sched.call_later(self._tick_s, self._tick, gen)
        self.elapsed += 1
        if self._leader:
            if self.elapsed >= self.election_ticks:
                self.elapsed = 0
                self._hooks.check_quorum()
            if gen == self._gen and self._leader:
                self._hooks.heartbeat()
        elif self.elapsed >= self.randomized:
            self.elapsed = 0
            self._hooks.election()


@dataclass(frozen=True, slots=True)
class EtcdTimerModel:
    heartbeat: float  # seconds, etcd --heartbeat-interval: one tick
    election: float  # seconds, etcd --election-timeout
    boot_advance: int = 0  # ticks fast-forwarded at (re)start (etcd's adjustTicks)

    @property
    def election_ticks(self) -> int:
        return max(1, round(self.election / self.heartbeat))

    @property
    def base_election_timeout(self) -> float:
        return self.election_ticks * self.heartbeat

    def for_node(self, scheduler: Scheduler, rng: random.Random, hooks: TimerHooks) -> NodeTimers:
        return EtcdTickTimers(scheduler, rng, self.heartbeat, self.election_ticks, hooks, self.boot_advance)

    def skewed(self, rate: float) -> TimerModel:
        # both scaled: the same number of ticks, each shorter or longer
        return EtcdTimerModel(self.heartbeat / rate, self.election / rate, self.boot_advance)


def timer_model(
    kind: str,
    heartbeat_ms: float,
    election_ms: float | tuple[float, float],
    cluster_size: int | None = None,
    jitter_ms: float = 0.0,
) -> TimerModel:
    """The model a ClusterSpec (or failover params) asks for; times in ms.

    With ``cluster_size``, the etcd model fast-forwards election ticks when a
    member starts, as etcd's ``adjustTicks`` does: election_ticks - 1 for a
    single member, election_ticks - 2 once peers are connected. Failover
    trials leave it out: they measure from a steady state, not from boot.
    ``jitter_ms`` (uniform model only): each election timeout fires late by
    a random amount drawn uniformly from [0, jitter_ms].
    """
    number = isinstance(jitter_ms, (int, float)) and not isinstance(jitter_ms, bool)
    if not (number and 0.0 <= jitter_ms <= MAX_JITTER_MS):
        raise ValueError(f"timer jitter {jitter_ms!r} ms: expected a number from 0 to {MAX_JITTER_MS:g}")
    if kind == "etcd":
        if isinstance(election_ms, tuple):
            raise ValueError("the etcd timer takes one election timeout, not a range")
        if jitter_ms:
            raise ValueError(
                "timer jitter is modelled for the uniform timer only (etcd's ticker does not drift)"
            )
        model = EtcdTimerModel(heartbeat_ms / 1000.0, election_ms / 1000.0)
        if cluster_size is not None:
            ticks = model.election_ticks
            advance = ticks - 1 if cluster_size == 1 else ticks - 2
            model = EtcdTimerModel(model.heartbeat, model.election, max(0, advance))
        return model
    if kind == "uniform":
        lo, hi = election_ms if isinstance(election_ms, tuple) else (election_ms, 2 * election_ms)
        return UniformTimerModel(lo / 1000.0, hi / 1000.0, heartbeat_ms / 1000.0, jitter=jitter_ms / 1000.0)
    raise ValueError(f"unknown timer model {kind!r} (expected 'etcd' or 'uniform')")
