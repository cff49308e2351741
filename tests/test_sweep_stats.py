"""Statistics on samples whose answers are known."""

from __future__ import annotations

import statistics

import pytest

from etcdplay.sweep.failover import FailoverAggregate
from etcdplay.sweep.stats import rate, summarize


def test_percentiles_of_one_to_hundred() -> None:
    s = summarize(list(range(1, 101)))
    assert s["count"] == 100
    assert s["mean"] == 50.5
    assert s["min"] == 1 and s["max"] == 100
    assert s["p50"] == pytest.approx(50.5)
    assert s["p90"] == pytest.approx(90.1)
    assert s["p99"] == pytest.approx(99.01)
    assert s["p99_9"] == pytest.approx(99.901)
    assert s["stdev"] == pytest.approx(statistics.stdev(range(1, 101)))


def test_percentiles_agree_with_statistics_inclusive() -> None:
    data = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0]
    cuts = statistics.quantiles(data, n=10, method="inclusive")
    s = summarize(data)
    assert s["p50"] == pytest.approx(statistics.median(data))
    assert s["p90"] == pytest.approx(cuts[8])


def test_one_sample_and_none() -> None:
    assert summarize([7.0])["p99_9"] == 7.0
    assert summarize([7.0])["stdev"] == 0.0
    empty = summarize([])
    assert empty["count"] == 0 and empty["mean"] is None and empty["p99_9"] is None
    assert rate(0, 0) is None and rate(1, 4) == 0.25


def test_aggregate_counts_split_votes_and_unresolved() -> None:
    agg = FailoverAggregate()
    samples = [
        {
            "downtime_ms": 100.0,
            "first_candidate_ms": 90.0,
            "rounds": 1,
            "split_votes": 0,
            "messages": 10,
            "winner": "n2",
        },
        {
            "downtime_ms": 300.0,
            "first_candidate_ms": 95.0,
            "rounds": 2,
            "split_votes": 1,
            "messages": 30,
            "winner": "n3",
        },
        {
            "downtime_ms": 200.0,
            "first_candidate_ms": 80.0,
            "rounds": 1,
            "split_votes": 0,
            "messages": 20,
            "winner": "n2",
        },
        {
            "downtime_ms": None,
            "first_candidate_ms": None,
            "rounds": 5,
            "split_votes": 4,
            "messages": 40,
            "winner": None,
        },
    ]
    for sample in samples:
        agg.add(sample)
    s = agg.summary()
    assert s["trials"] == 4 and s["unresolved"] == 1
    assert s["downtime_ms"]["count"] == 3
    assert (
        s["downtime_ms"]["mean"] == 200.0
        and s["downtime_ms"]["p50"] == 200.0
        and s["downtime_ms"]["max"] == 300.0
    )
    assert s["split_vote_rate"] == 0.5
    assert s["rounds_mean"] == 9 / 4
    assert s["messages_mean"] == 25.0
    assert s["winners"] == {"n2": 2, "n3": 1}
