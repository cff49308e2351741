"""Timer models: the Raft paper's uniform timeouts and etcd's ticks."""

from __future__ import annotations

import itertools
import random

import pytest

from etcdplay.sim.clock import HeapScheduler
from etcdplay.sim.timers import (
    ElectionTimer,
    EtcdTickTimers,
    EtcdTimerModel,
    TimerHooks,
    UniformTimerModel,
    timer_model,
)


def test_uniform_election_timeouts_fall_in_the_range() -> None:
    sched = HeapScheduler()
    fired: list[float] = []
    timer = ElectionTimer(sched, random.Random(3), 0.150, 0.300, lambda: fired.append(sched.now()))
    for round_ in range(300):
        start = round_ * 1.0
        sched.run(start)
        timer.reset()
        sched.run(start + 0.999)
        assert len(fired) == round_ + 1
        assert 0.150 <= fired[-1] - start <= 0.300
    spread = [f - round(f) for f in fired]
    assert min(spread) < 0.16 and max(spread) > 0.29  # the whole range is used


def test_a_reset_postpones_the_election() -> None:
    sched = HeapScheduler()
    fired: list[float] = []
    timer = ElectionTimer(sched, random.Random(1), 0.150, 0.300, lambda: fired.append(sched.now()))
    timer.reset()
    for step in range(1, 20):  # a heartbeat every 50 ms keeps it quiet
        sched.run(step * 0.05)
        timer.reset()
    assert fired == []
    sched.run(5.0)
    assert len(fired) == 1 and 0.95 + 0.15 <= fired[0] <= 0.95 + 0.30


def _etcd_node(
    seed: int, election_ticks: int = 10
) -> tuple[HeapScheduler, EtcdTickTimers, list[float], list[float]]:
    sched = HeapScheduler()
    elections: list[float] = []
    beats: list[float] = []
    hooks = TimerHooks(
        election=lambda: elections.append(sched.now()),
        heartbeat=lambda: beats.append(sched.now()),
        check_quorum=lambda: None,
    )
    timers = EtcdTickTimers(sched, random.Random(seed), 0.1, election_ticks, hooks)
    timers.start(leader=False)
    return sched, timers, elections, beats


def test_etcd_timeout_is_whole_ticks_in_the_randomized_range() -> None:
    for seed in range(200):
        sched, timers, elections, _ = _etcd_node(seed)
        sched.run(0.05)
        timers.reset_election(term=1, role="follower")
        reset_at = sched.now()
        ticks = timers.randomized
        assert 10 <= ticks < 20
        sched.run(5.0)
        waited = elections[0] - reset_at
        # Counted in ticks at the node's own phase: between (n-1) and n ticks.
        assert (ticks - 1) * 0.1 - 1e-9 <= waited <= ticks * 0.1 + 1e-9


def test_etcd_timer_fires_on_tick_boundaries_of_the_node_phase() -> None:
    sched, _, elections, _ = _etcd_node(5)
    sched.run(10.0)
    phases = {round((t * 1000) % 100, 6) for t in elections}
    assert len(phases) == 1  # every election lands on this node's tick grid


def test_a_heartbeat_zeroes_the_count_without_redrawing() -> None:
    sched, timers, elections, _ = _etcd_node(7)
    timers.reset_election(term=1, role="follower")
    drawn = timers.randomized
    for i in range(30):
        sched.run(0.1 * i + 0.05)
        timers.reset_election(term=1, role="follower")
        assert timers.randomized == drawn
    assert elections == []
    timers.reset_election(term=2, role="follower")  # a new term redraws (etcd's reset(term))


def test_etcd_leader_heartbeats_every_tick() -> None:
    sched, timers, elections, beats = _etcd_node(2)
    timers.set_leader(True)
    sched.run(1.0)
    assert elections == []
    assert 9 <= len(beats) <= 10
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(beats)}
    assert gaps == {0.1}


def test_timer_model_from_cluster_settings() -> None:
    etcd = timer_model("etcd", 100, 1000)
    assert isinstance(etcd, EtcdTimerModel)
    assert etcd.election_ticks == 10 and etcd.base_election_timeout == pytest.approx(1.0)
    uniform = timer_model("uniform", 50, (150, 300))
    assert isinstance(uniform, UniformTimerModel) and uniform.lo == pytest.approx(0.15)
    with pytest.raises(ValueError):
        timer_model("etcd", 100, (150, 300))


def test_etcd_model_fast_forwards_election_ticks_at_boot_like_etcd() -> None:
    from etcdplay.sim.timers import EtcdTimerModel, timer_model

    plain = timer_model("etcd", 100, 1000)
    assert isinstance(plain, EtcdTimerModel) and plain.boot_advance == 0
    three = timer_model("etcd", 100, 1000, cluster_size=3)
    assert isinstance(three, EtcdTimerModel) and three.boot_advance == 8  # election ticks - 2
    single = timer_model("etcd", 100, 1000, cluster_size=1)
    assert isinstance(single, EtcdTimerModel) and single.boot_advance == 9  # election ticks - 1
