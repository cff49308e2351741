"""Property tests: random delivery orders, drops, duplicates, partitions,
crashes and restarts on 3 and 5 nodes; the SafetyMonitor must stay silent,
every Output must describe the state change exactly (the harness checks the
simulated disk against the node after each one), and once the faults stop
the cluster must converge."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from raft_harness import Cluster

ACTIONS = [
    "deliver",
    "deliver",
    "deliver",
    "deliver",
    "deliver_all",
    "drop",
    "duplicate",
    "timeout",
    "timeout",
    "heartbeat",
    "heartbeat",
    "check_quorum",
    "propose",
    "propose",
    "propose",
    "propose",
    "advance",
    "crash",
    "restart",
    "isolate",
    "heal",
    "transfer",
]

actions = st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 10_000)), min_size=1, max_size=150)


def run(c: Cluster, steps: list[tuple[str, int]]) -> None:
    ids = c.ids
    for kind, x in steps:
        node = ids[x % len(ids)]
        up = node not in c.down
        if kind == "deliver" and c.queue:
            c.deliver_one(x % len(c.queue))
        elif kind == "deliver_all":
            c.deliver(limit=200)
        elif kind == "drop" and c.queue:
            c.queue.pop(x % len(c.queue))
        elif kind == "duplicate" and c.queue:
            c.queue.append(c.queue[x % len(c.queue)])
        elif kind == "timeout" and up:
            c.timeout(node)
        elif kind == "heartbeat" and up:
            c.heartbeat(node)
        elif kind == "check_quorum" and up:
            c.check_quorum_tick(node)
        elif kind == "propose":
            # to the newest live leader, so that most proposals land somewhere
            leaders = sorted(c.leaders(), key=lambda i: c[i].term)
            if leaders and c[leaders[-1]].transferee is None:
                op = "delete" if x % 5 == 0 else "put"
                c.propose(leaders[-1], f"k{x % 7}", f"v{x}", op)
        elif kind == "advance":
            c.advance((x % 8) / 10)
        elif kind == "crash" and up:
            c.crash(node)
        elif kind == "restart" and not up:
            c.restart(node)
        elif kind == "isolate":
            c.isolate(node)
        elif kind == "heal":
            c.heal()
        elif kind == "transfer":
            leaders = sorted(c.leaders(), key=lambda i: c[i].term)
            if leaders and leaders[-1] != node:
                c.transfer(leaders[-1], node)
        assert c.monitor.ok, c.monitor.results()


def converge(c: Cluster) -> None:
    """Faults stop: heal, restart everyone, let timers fire until a leader
    holds a quorum, then replicate one more write everywhere."""
    c.heal()
    for i in c.ids:
        if i in c.down:
            c.restart(i)
    c.deliver()
    leaders: list[str] = []
    for attempt in range(4 * len(c.ids)):
        for leader in c.leaders():  # a stale leader steps down on contact
            c.heartbeat(leader)
        c.deliver()
        leaders = c.leaders()
        if (
            len(leaders) == 1
            and c[leaders[0]].term == max(c[i].term for i in c.ids)
            and c[leaders[0]].transferee is None  # a stuck transfer ends at a heartbeat
        ):
            break
        c.advance(2 * c.election_timeout)  # let every lease run out
        for i in c.ids:
            c.check_quorum_tick(i)
        c.deliver()
        c.timeout(c.ids[attempt % len(c.ids)])
        c.deliver()
    assert len(leaders) == 1, c.status()
    [leader] = leaders
    c.propose(leader, "final", "x")
    c.deliver()
    c.heartbeat(leader)
    c.deliver()
    logs = {tuple(c[i].log) for i in c.ids}
    assert len(logs) == 1, c.status()
    assert len({c.kv[i].hash for i in c.ids}) == 1
    assert all(c.kv[i].get("final") == "x" for i in c.ids)
    assert c.monitor.ok, c.monitor.results()


@pytest.mark.parametrize("n", [3, 5])
@pytest.mark.parametrize(("pre_vote", "check_quorum"), [(False, False), (True, True), (True, False)])
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=actions)
def test_random_schedules_are_safe_and_converge(
    n: int, pre_vote: bool, check_quorum: bool, steps: list[tuple[str, int]]
) -> None:
    c = Cluster(n, pre_vote=pre_vote, check_quorum=check_quorum)
    run(c, steps)
    converge(c)


@settings(max_examples=60, deadline=None)
@given(steps=actions)
def test_random_schedules_after_a_stable_start(steps: list[tuple[str, int]]) -> None:
    c = Cluster(5, pre_vote=True, check_quorum=True)
    c.elect("n1")
    for k in range(5):
        c.propose("n1", f"k{k}")
    c.deliver()
    run(c, steps)
    converge(c)


def test_random_schedules_catch_a_double_voter() -> None:
    """The same random schedules find a broken core: a node that votes twice
    in a term (one-vote-per-term), which soon yields two leaders in one term."""
    import random

    from test_safety import DoubleVoter

    caught = 0
    for seed in range(200):
        r = random.Random(seed)
        steps = [(r.choice(ACTIONS), r.randrange(10_000)) for _ in range(150)]
        c = Cluster(3, node_cls=DoubleVoter)
        try:
            run(c, steps)
        except AssertionError:
            # one-vote-per-term sees the second vote before it makes two leaders
            failed = {name for name, ok, _ in c.monitor.results() if not ok}
            assert failed & {"election_safety", "one_vote_per_term"}, failed
            caught += 1
    assert caught >= 5
