"""The harsher adversary: duplicated and reordered Raft messages, skewed
clocks, chaos faults aimed at elections, a load that overwrites and deletes,
and the final-values check that notices when overwrites or deletes are lost."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from etcdplay import checks
from etcdplay import scenario as sc
from etcdplay.distributions import Distribution
from etcdplay.runner import make_header, run_scenario
from etcdplay.sim.backend import SimBackend
from etcdplay.sim.clock import HeapScheduler
from etcdplay.sim.network import Disorder, Network
from etcdplay.sim.raft import AppendRequest
from etcdplay.sim.timers import timer_model
from etcdplay.trace import TraceWriter, encode

NAMES = ["n1", "n2", "n3"]


def _network(
    disorder: Disorder | None = None,
) -> tuple[HeapScheduler, Network, dict[str, list[Any]]]:
    sched = HeapScheduler()
    net = Network(
        sched,
        NAMES,
        Distribution.parse("uniform(0,5)"),
        random.Random(1),
        disorder=disorder,
        disorder_rng=random.Random(2),
    )
    inbox: dict[str, list[Any]] = {n: [] for n in NAMES}
    for name in NAMES:
        net.attach(name, _into(inbox[name]))
    return sched, net, inbox


def _into(box: list[Any]) -> Callable[[Any], None]:
    return box.append


def _append(i: int) -> AppendRequest:
    return AppendRequest("n1", "n2", 1, i, 1, (), 0)


def _send_many(sched: HeapScheduler, net: Network, make: Callable[[int], Any], count: int = 300) -> None:
    for i in range(count):
        net.send("n1", "n2", make(i))
        sched.run(sched.now() + 0.0001)
    sched.run(sched.now() + 10.0)


def test_off_by_default_links_stay_fifo_and_exactly_once() -> None:
    sched, net, inbox = _network()
    _send_many(sched, net, _append)
    assert [m.prev_index for m in inbox["n2"]] == list(range(300))
    assert net.stats.duplicated == net.stats.reordered == 0


def test_disorder_duplicates_and_reorders_raft_messages() -> None:
    sched, net, inbox = _network()
    net.disorder(["n1"], Disorder(duplicate=0.3, reorder=0.3, spread=0.05))
    _send_many(sched, net, _append)
    got = [m.prev_index for m in inbox["n2"]]
    assert len(got) == 300 + net.stats.duplicated and 50 < net.stats.duplicated < 130
    assert 50 < net.stats.reordered < 130
    assert got != sorted(got)  # out of order
    assert set(got) == set(range(300))  # nothing lost


def test_client_traffic_is_never_duplicated_or_reordered() -> None:
    sched, net, inbox = _network(Disorder(duplicate=1.0, reorder=1.0, spread=0.05))
    _send_many(sched, net, lambda i: ("client", i))
    assert [m[1] for m in inbox["n2"]] == list(range(300))


def test_heal_ends_a_disorder_period_but_keeps_the_runs_own() -> None:
    base = Disorder(duplicate=0.0, reorder=1.0, spread=0.01)
    sched, net, _ = _network(base)
    net.disorder(NAMES, Disorder(duplicate=1.0, reorder=0.0, spread=0.01))
    net.heal()
    _send_many(sched, net, _append, count=20)
    assert net.stats.duplicated == 0 and net.stats.reordered == 20


def test_skewed_timers_scale_every_timeout() -> None:
    etcd = timer_model("etcd", 100, 1000, 5)
    fast = etcd.skewed(1.25)
    assert fast.base_election_timeout == pytest.approx(0.8)
    assert fast.election_ticks == etcd.election_ticks  # type: ignore[attr-defined]
    uniform = timer_model("uniform", 50, (150, 300)).skewed(0.5)
    assert uniform.base_election_timeout == pytest.approx(0.3)


# --- the final-values check ------------------------------------------------------------


def _op(
    t: float, op: str, key: str, value: str | None, ok: bool = True, latency: float = 0.01
) -> dict[str, Any]:
    event: dict[str, Any] = {"t": t, "kind": "client", "op": op, "key": key, "ok": ok, "latency": latency}
    if value is not None:
        event["value"] = value
    return event


def test_final_values_catch_an_ignored_overwrite_and_a_lost_delete() -> None:
    events = [_op(1.0, "put", "a", "v1"), _op(2.0, "put", "a", "v2"), _op(1.0, "put", "b", "x")]
    events.append(_op(2.0, "delete", "b", None))
    assert checks.final_values(events, {"a": "v2"}).ok
    bad = checks.final_values(events, {"a": "v1"})
    assert not bad.ok and "'v1'" in bad.detail and "'v2'" in bad.detail
    assert not checks.final_values(events, {"a": "v2", "b": "x"}).ok
    # no-acked-write-lost now knows that a delete that came later removes the key
    assert not checks.no_acked_write_lost(events, {"a": "v2", "b": "x"}).ok
    assert checks.no_acked_write_lost(events, {"a": "v2"}).ok


def test_no_acked_write_lost_takes_writes_in_flight_together_in_either_order() -> None:
    # acknowledged in the order v1, v2, but v2 was invoked first and both were
    # in flight together: v1 may have been applied first (seed 71 of chaos)
    events = [_op(2.0, "put", "a", "v1", latency=0.5), _op(2.1, "put", "a", "v2", latency=0.9)]
    assert checks.no_acked_write_lost(events, {"a": "v1"}).ok
    assert checks.no_acked_write_lost(events, {"a": "v2"}).ok
    assert not checks.no_acked_write_lost(events, {"a": "v0"}).ok


def test_final_values_allow_concurrent_and_unacknowledged_writes() -> None:
    # overlapping in time: either may be last
    events = [_op(1.0, "put", "a", "v1", latency=0.5), _op(1.1, "put", "a", "v2", latency=0.5)]
    assert checks.final_values(events, {"a": "v1"}).ok
    assert checks.final_values(events, {"a": "v2"}).ok
    # a timed-out write may have been applied late, after a later acknowledged one
    events = [_op(8.0, "put", "a", "v1", ok=False, latency=7.0), _op(2.0, "put", "a", "v2")]
    assert checks.final_values(events, {"a": "v1"}).ok
    assert checks.final_values(events, {"a": "v2"}).ok
    assert not checks.final_values(events, {"a": "never-written"}).ok
    assert not checks.final_values(events, {}).ok  # v2 was acknowledged: not absent
    # a key whose only write failed may be absent
    assert checks.final_values([_op(8.0, "put", "c", "v", ok=False, latency=7.0)], {}).skipped


# --- the chaos schedule and the built-in scenario -------------------------------------------


def test_harsh_chaos_kinds_expand_into_valid_replayable_steps() -> None:
    chaos = sc.load("chaos")
    assert set(sc.FAULT_KINDS) <= set(chaos.chaos.kinds if chaos.chaos else [])
    actions: set[str] = set()
    for seed in range(1, 301):
        expanded = chaos.expanded(seed)
        times = [s.at for s in expanded.steps]
        assert times == sorted(times)
        assert sc.from_dict(expanded.to_dict()).to_dict() == expanded.to_dict()
        actions |= {s.action for s in expanded.steps}
    assert {"crash", "restart", "partition", "heal", "disorder", "isolate", "delay", "stop"} <= actions


def _run(scenario: sc.Scenario, seed: int) -> tuple[bool, str, list[str]]:
    expanded = scenario.expanded(seed)
    writer = TraceWriter(make_header(expanded, seed, "sim"))
    result = run_scenario(expanded, SimBackend(), seed, writer)
    return result.ok, "\n".join(encode(e) for e in writer.events), [c.name for c in result.failed]


def test_harsh_chaos_is_deterministic() -> None:
    chaos = sc.load("chaos")
    ok, first, _ = _run(chaos, 5)
    _, again, _ = _run(chaos, 5)
    assert first == again
    assert '"action":"disorder"' in first or '"disorder"' in first or ok


@pytest.mark.parametrize("seed", range(1, 13))
def test_builtin_chaos_passes_on_unmodified_code(seed: int) -> None:
    from etcdplay.sim.lean import check_run

    verdict = check_run(sc.load("chaos"), seed)
    assert verdict.ok, [(c.name, c.detail) for c in verdict.failed]


def test_load_overwrites_and_deletes_with_values_in_the_trace() -> None:
    scenario = sc.from_dict(
        {
            "settle": 1.0,
            "steps": [
                {"at": 0.0, "action": "wait-for-leader"},
                {"at": 0.5, "action": "load", "rate": 50, "duration": 2, "keys": 3, "deletes": 0.3},
            ],
        }
    )
    ok, text, failed = _run(scenario, 1)
    assert ok, failed
    assert '"op":"delete"' in text and '"key":"load/2"' in text and '"key":"load/3"' not in text
    assert '"name":"final-values","ok":true' in text


def test_a_load_may_be_sent_to_the_leader_and_only_a_load() -> None:
    steps: list[dict[str, Any]] = [
        {"at": 0.0, "action": "wait-for-leader"},
        {"at": 0.5, "action": "load", "node": "leader", "rate": 100, "duration": 1, "prefix": "b/"},
    ]
    ok, text, failed = _run(sc.from_dict({"settle": 1.0, "steps": steps}), 3)
    assert ok, failed
    assert text.count('"source":"load"') == 100
    with pytest.raises(sc.ScenarioError, match="no member 'leader'"):
        sc.from_dict({"steps": [{"at": 0.0, "action": "put", "key": "k", "node": "leader"}]})


def test_the_burst_kinds_send_more_than_one_append_batch_to_the_leader() -> None:
    chaos = sc.load("chaos")
    bursts = [
        s
        for seed in range(1, 41)
        for s in chaos.expanded(seed).steps
        if s.action == "load" and s.note == "chaos"
    ]
    assert bursts
    for s in bursts:
        assert s.node == "leader" and s.rate * s.duration > 64  # type: ignore[union-attr]
