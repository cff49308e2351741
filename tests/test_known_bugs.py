"""A failed check is recognised as etcd-io/etcd#13766 only with the bug's
whole signature: an affected version, a live run, and the members that
disagree with the majority SIGKILLed before the disagreement was seen."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from etcdplay import checks
from etcdplay.known_bugs import ETCD_13766, parse_version, recognise
from etcdplay.trace import Event


def header(version: str | None = "3.5.1", backend: str = "live") -> Event:
    return {"t": 0.0, "kind": "header", "backend": backend, "etcd_version": version}


def status(t: float, node: str, rev: int, digest: str) -> Event:
    return {"t": t, "kind": "status", "node": node, "hash": digest, "hash_revision": rev, "revision": rev}


def crash(t: float, *nodes: str) -> Event:
    return {"t": t, "kind": "fault", "action": "crash", "selector": "random", "nodes": list(nodes)}


def diverged_run(killed: tuple[str, ...] = ("n3",), kill_at: float = 1.0) -> list[Event]:
    events: list[Event] = [crash(kill_at, *killed)]
    events += [status(2.0, "n1", 90, "aaaa"), status(2.0, "n2", 90, "aaaa"), status(2.1, "n3", 90, "bbbb")]
    return events


def final_status(*rows: tuple[str, int, str]) -> Event:
    statuses: list[dict[str, Any]] = [
        {"node": n, "running": True, "revision": r, "keys": 5, "hash": h} for n, r, h in rows
    ]
    return {"t": 9.0, "kind": "note", "text": "final status", "statuses": statuses}


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("3.5.1", (3, 5, 1)),
        ("v3.5.2", (3, 5, 2)),
        ("3.6.0-rc.1", (3, 6, 0)),
        ("3.5", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_version(text: str | None, parsed: tuple[int, int, int] | None) -> None:
    assert parse_version(text) == parsed


def test_affected_versions() -> None:
    assert [ETCD_13766.affects(v) for v in ("3.4.23", "3.5.0", "3.5.2", "3.5.3", "3.5.16")] == [
        False,
        True,
        True,
        False,
        False,
    ]


def test_divergence_of_a_killed_member_is_recognised() -> None:
    events = diverged_run()
    failed = checks.no_divergence(events)
    assert not failed.ok
    result = recognise(failed, header(), events)
    assert result.known_bug == "etcd-io/etcd#13766"
    assert "n3 had been SIGKILLed" in result.detail and not result.ok
    assert result.fields()["known_bug"] == "etcd-io/etcd#13766"


@pytest.mark.parametrize(
    ("events_header", "events"),
    [
        (header("3.5.3"), diverged_run()),  # fixed version
        (header("3.4.23"), diverged_run()),
        (header(None), diverged_run()),
        (header(backend="sim"), diverged_run()),
        (header(), diverged_run(killed=("n1",))),  # the majority's member was killed, not the odd one
        (header(), diverged_run(kill_at=5.0)),  # killed only after the divergence was seen
        (header(), diverged_run(killed=())),
    ],
    ids=["3.5.3", "3.4.23", "no-version", "sim", "wrong-member", "killed-later", "nobody-killed"],
)
def test_divergence_without_the_signature_is_not(events_header: Event, events: list[Event]) -> None:
    failed = checks.no_divergence(events)
    assert not failed.ok
    assert recognise(failed, events_header, events) == failed


def test_a_tie_names_nobody() -> None:
    events = [crash(1.0, "n2"), status(2.0, "n1", 90, "aaaa"), status(2.1, "n2", 90, "bbbb")]
    failed = checks.no_divergence(events)
    assert recognise(failed, header(), events).known_bug == ""


def test_convergence_one_behind_after_a_kill() -> None:
    events = [crash(1.0, "n5"), final_status(("n1", 213, "fc"), ("n2", 213, "fc"), ("n5", 212, "6b"))]
    statuses = events[-1]["statuses"]
    failed = checks.convergence(statuses)
    assert recognise(failed, header(), events).known_bug == "etcd-io/etcd#13766"
    unkilled = [crash(1.0, "n2"), events[-1]]
    assert recognise(failed, header(), unkilled).known_bug == ""


def test_passing_and_other_checks_untouched() -> None:
    ok = checks.CheckResult("no-divergence", True, "fine")
    assert recognise(ok, header(), diverged_run()) is ok
    other = checks.CheckResult("linearizable", False, "no legal order")
    assert recognise(other, header(), diverged_run()) is other


def test_recognised_in_a_real_find() -> None:
    """A real kill-under-load run on etcd 3.5.1 (5 members, seed 5 of the
    compressed scenario the live tests run) that found #13766: the trace's
    header, faults, hashes and final status, kept in tests/data. Both failed
    checks are recognised again from those events alone."""
    path = Path(__file__).parent / "data" / "live-etcd3.5.1-13766.jsonl.gz"
    with gzip.open(path, "rt") as handle:
        events = [json.loads(line) for line in handle]
    head, rest = events[0], events[1:]
    assert head["etcd_version"] == "3.5.1"
    statuses = next(e["statuses"] for e in rest if e["kind"] == "note")
    for failed in (checks.no_divergence(rest), checks.convergence(statuses)):
        assert not failed.ok
        assert recognise(failed, head, rest).known_bug == "etcd-io/etcd#13766", failed
    # the same find with the kills taken out of the trace stays unexplained
    unkilled = [e for e in rest if e["kind"] != "fault"]
    assert recognise(checks.no_divergence(unkilled), head, unkilled).known_bug == ""


def test_an_expect_converged_that_timed_out_on_a_diverged_member() -> None:
    """The last hashes before the step gave up: n3 (killed) differs at the
    revision all three were hashed at; a member merely behind would not."""
    events = [
        crash(1.0, "n3"),
        status(2.0, "n1", 80, "aaaa"),
        status(2.0, "n2", 80, "aaaa"),
        status(2.0, "n3", 80, "aaaa"),
        status(3.0, "n1", 90, "cccc"),
        status(3.0, "n2", 90, "cccc"),
        status(3.0, "n3", 90, "dddd"),
        status(9.0, "n3", 95, "eeee"),  # after the step gave up: not looked at
    ]
    timed_out = checks.CheckResult("expect:converged", False, "converged did not hold", at=5.0)
    assert recognise(timed_out, header(), events).known_bug == "etcd-io/etcd#13766"
    agreeing = [e for e in events if e.get("hash") != "dddd"]
    assert recognise(timed_out, header(), agreeing).known_bug == ""  # only slow: not the bug
    assert recognise(timed_out, header(), [e for e in events if e["kind"] != "fault"]).known_bug == ""
