"""The simulated network: latency, FIFO links, loss, partitions, delay."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from etcdplay.distributions import Distribution
from etcdplay.sim.clock import HeapScheduler
from etcdplay.sim.network import Network

NAMES = ["n1", "n2", "n3", "n4", "n5"]


def _collector(sched: HeapScheduler, box: list[tuple[float, Any]]) -> Callable[[Any], None]:
    return lambda message: box.append((sched.now(), message))


def make(
    latency: str = "fixed(2)", loss: float = 0.0, seed: int = 1
) -> tuple[HeapScheduler, Network, dict[str, list[tuple[float, Any]]]]:
    sched = HeapScheduler()
    net = Network(sched, NAMES, Distribution.parse(latency), random.Random(seed), loss=loss)
    inbox: dict[str, list[tuple[float, Any]]] = {n: [] for n in NAMES}
    for name in NAMES:
        net.attach(name, _collector(sched, inbox[name]))
    return sched, net, inbox


def test_fixed_latency_delivers_after_exactly_that_long() -> None:
    sched, net, inbox = make("fixed(2)")
    net.send("n1", "n2", "hello")
    sched.run(1.0)
    assert inbox["n2"] == [(pytest.approx(0.002), "hello")]
    assert net.stats.sent == net.stats.delivered == 1


def test_links_are_fifo_even_with_wild_latency() -> None:
    sched, net, inbox = make("uniform(0,50)")
    for i in range(200):
        net.send("n1", "n2", i)
        sched.run(sched.now() + 0.0001)
    sched.run(10.0)
    assert [m for _, m in inbox["n2"]] == list(range(200))


def test_different_links_may_reorder() -> None:
    sched, net, inbox = make("uniform(0,50)")
    arrivals = []
    for i in range(50):
        net.send("n1", "n2", i)
        net.send("n3", "n2", 100 + i)
    sched.run(10.0)
    arrivals = [m for _, m in inbox["n2"]]
    assert sorted(arrivals) != arrivals  # interleaved, not sender by sender


def test_loss_drops_about_that_fraction() -> None:
    sched, net, inbox = make(loss=0.3)
    for i in range(2000):
        net.send("n1", "n2", i)
    sched.run(10.0)
    assert 0.25 < net.stats.dropped_loss / 2000 < 0.35
    assert len(inbox["n2"]) == net.stats.delivered == 2000 - net.stats.dropped_loss


def test_partition_drops_between_groups_only_and_heal_restores() -> None:
    sched, net, inbox = make()
    groups = net.partition([["n1", "n2"]])
    assert groups == [["n1", "n2"], ["n3", "n4", "n5"]]
    net.send("n1", "n2", "same side")
    net.send("n1", "n3", "across")
    net.send("n4", "n5", "other side")
    sched.run(1.0)
    assert [m for _, m in inbox["n2"]] == ["same side"]
    assert inbox["n3"] == []
    assert net.stats.dropped_partition == 1
    assert not net.connected("n1", "n3")
    net.heal()
    net.send("n1", "n3", "healed")
    sched.run(2.0)
    assert [m for _, m in inbox["n3"]] == ["healed"]


def test_partition_drops_messages_in_flight() -> None:
    sched, net, inbox = make("fixed(10)")
    net.send("n1", "n3", "in flight")
    sched.run(0.005)
    net.partition([["n1"], ["n3"]])
    sched.run(1.0)
    assert inbox["n3"] == []
    assert net.stats.dropped_partition == 1


def test_delay_adds_to_links_touching_the_node_until_heal() -> None:
    sched, net, inbox = make("fixed(1)")
    net.delay(["n2"], Distribution.parse("fixed(100)"))
    net.send("n1", "n2", "slow")
    net.send("n2", "n3", "slow too")
    net.send("n1", "n3", "fast")
    sched.run(1.0)
    assert inbox["n2"][0][0] == pytest.approx(0.101)
    assert inbox["n3"] == [(pytest.approx(0.001), "fast"), (pytest.approx(0.101), "slow too")]
    net.heal()
    start = sched.now()
    net.send("n1", "n2", "normal")
    sched.run(2.0)
    assert inbox["n2"][-1][0] - start == pytest.approx(0.001)


def test_a_restarted_member_does_not_get_its_old_connections_messages() -> None:
    sched, net, inbox = make("fixed(10)")
    net.send("n1", "n2", "to the old n2")
    net.detach("n2")
    net.attach("n2", lambda m: inbox["n2"].append((sched.now(), m)))
    sched.run(1.0)
    assert inbox["n2"] == []
    assert net.stats.dropped_down == 1
