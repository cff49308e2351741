"""Derived metrics against hand-written traces with known answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from etcdplay import metrics
from etcdplay.report.downsample import changes, minmax, thin
from etcdplay.trace import read_trace

DATA = Path(__file__).parent / "data"


@pytest.fixture
def sim():
    return read_trace(DATA / "sim-leader-failure.jsonl")


@pytest.fixture
def live():
    return read_trace(DATA / "live-leader-failure.jsonl")


def test_elections_after_faults(sim):
    start, crash, partition = metrics.elections(sim)
    assert (start.cause, start.new_leader, start.new_term, start.election_time) == ("start", "n2", 1, 1.25)
    assert crash.cause == "crash n2" and crash.outcome == "elected"
    assert (crash.old_leader, crash.new_leader, crash.new_term) == ("n2", "n3", 3)
    assert crash.election_time == pytest.approx(2.65)
    assert crash.campaign == pytest.approx(1.35)
    assert (crash.rounds, crash.split_votes, crash.pre_votes) == (2, 1, 3)
    assert partition.cause == "partition n1 | n2,n3"
    assert partition.outcome == "kept" and partition.new_leader == "n3"


def test_unavailability_and_headline(sim, live):
    assert metrics.unavailability_windows(sim) == [(0.0, 1.25), (5.0, 7.65)]
    h = metrics.headline(sim)
    assert h.time_to_first_leader == 1.25
    assert h.leader_changes == 1 and h.max_term == 3
    assert h.unavailable == pytest.approx(3.9)
    assert (h.writes, h.failed_writes) == (5, 1)
    assert h.final_keys == {"n1": 4, "n2": 4, "n3": 4}
    assert h.hashes_converged is True
    assert h.checks_failed == ["no-acked-write-lost"]
    hl = metrics.headline(live)
    assert hl.time_to_first_leader == 2.1 and hl.election_times == [1.1, 0.0]
    assert hl.duration == 12.5


def test_role_and_fault_spans(sim):
    n2 = [s for s in metrics.role_spans(sim) if s.row == "n2"]
    assert [s.label for s in n2] == ["follower", "pre-candidate", "candidate", "leader", "down", "follower"]
    assert n2[-1].end == 12.0
    faults = metrics.fault_spans(sim)
    assert [(f.action, f.start, f.end, f.undone_by) for f in faults] == [
        ("crash", 5.0, 9.0, "restart"),
        ("partition", 10.0, 11.0, "heal"),
    ]
    assert [(s.row, s.term) for s in metrics.leader_tenures(sim)] == [("n2", 1), ("n3", 3)]


def test_hash_agreement_shows_recovery(sim):
    n2 = [(s.start, s.end, s.label) for s in metrics.hash_agreement(sim) if s.row == "n2"]
    assert n2 == [(1.0, 5.0, "agree"), (5.0, 9.5, "down"), (9.5, 12.0, "differ"), (12.0, 12.0, "agree")]


def test_final_status_prefers_runner_snapshot(sim):
    sim.events.append(
        {
            "t": 12.0,
            "kind": "note",
            "text": "final status",
            "statuses": [{"node": "n1", "running": True, "keys": 9, "hash": "z"}],
        }
    )
    assert metrics.final_status(sim)["n1"]["keys"] == 9


def test_downsample_keeps_changes_and_extremes():
    assert changes([0, 1, 2, 3], [1, 1, 2, 2]) == ([0, 2, 3], [1, 2, 2])
    t = [i * 0.01 for i in range(100_000)]
    v = [float(i % 1000) for i in range(100_000)]
    v[54_321] = 1e6
    tt, vv = minmax(t, v, 2000)
    assert len(tt) <= 2002 and vv.max() == 1e6 and tt[0] == 0 and tt[-1] == t[-1]
    _st, sv = thin(t, [float(i // 10_000) for i in range(100_000)], step=True)
    assert list(sv) == [float(x) for x in range(10)] + [9.0]
