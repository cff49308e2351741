"""The play session: commands in, trace events out, and a played session
that replays exactly with ``etcdplay simulate``."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from etcdplay.play import CommandError, PlaySession, SessionError
from etcdplay.play.session import wait_for
from etcdplay.play.view import ClusterView
from etcdplay.runner import current_leader, make_header, run_scenario
from etcdplay.scenario import ClusterSpec, Scenario, from_dict, from_toml, load
from etcdplay.sim.backend import SimBackend
from etcdplay.trace import TraceWriter

#: Generous wall-clock bounds: they only stop a hang (a loaded CI machine is slow).
PATIENCE = 60.0


def leader_of(session: PlaySession) -> str | None:
    return current_leader(session.status())


@pytest.fixture
def session() -> Any:
    s = PlaySession(Scenario(cluster=ClusterSpec(size=5)), seed=11, speed=4.0)
    s.start()
    yield s
    s.close()


def test_message_level_changes_no_other_event() -> None:
    def run(messages: bool) -> list[dict[str, Any]]:
        sc = load("leader-failure")
        trace = TraceWriter(make_header(sc, 7, "sim"))
        run_scenario(sc, SimBackend(trace_messages=messages), 7, trace)
        return trace.events[1:]

    plain = run(False)
    detailed = run(True)
    kinds = {e["kind"] for e in detailed}
    assert {"message", "timer"} <= kinds
    stripped = []
    for event in detailed:
        if event["kind"] in ("message", "timer"):
            continue
        if event["kind"] == "status":
            event = {k: v for k, v in event.items() if k not in ("log_from", "log_terms", "last_index")}
        stripped.append(event)
    assert stripped == plain


def test_messages_are_sent_and_dropped_on_a_cut_link() -> None:
    sc = load("partition-leader")
    trace = TraceWriter(make_header(sc, 3, "sim"))
    run_scenario(sc, SimBackend(trace_messages=True), 3, trace)
    messages = [e for e in trace.events if e["kind"] == "message"]
    sent = [m for m in messages if "arrive" in m]
    assert sent and all(m["arrive"] >= m["t"] for m in sent)
    assert {"pre-vote", "vote", "heartbeat", "append", "append-resp"} <= {m["type"] for m in messages}
    assert any(m.get("dropped") == "partition" for m in messages)
    status = [e for e in trace.events if e["kind"] == "status" and e["running"]]
    assert all(e["last_index"] >= e["commit"] for e in status)


def test_kill_put_get_and_a_new_leader(session: PlaySession) -> None:
    assert wait_for(lambda: leader_of(session) is not None, PATIENCE)
    old = leader_of(session)
    result = session.do({"action": "kill", "node": old}, PATIENCE)
    assert result.ok and result.message == f"crash {old}"
    assert wait_for(lambda: leader_of(session) not in (None, old), PATIENCE)
    other = next(n for n in session.base.cluster.names if n not in (old, leader_of(session)))
    put = session.do({"action": "put", "key": "greeting", "value": "hello", "node": other}, PATIENCE)
    assert put.ok, put.message
    got = session.do({"action": "get", "key": "greeting", "node": other}, PATIENCE)
    assert got.ok and got.op is not None and got.op["value"] == "hello"
    refused = session.do({"action": "get", "key": "greeting", "node": old}, PATIENCE)
    assert not refused.ok and "not running" in refused.message
    clients = [e for e in session.events() if e["kind"] == "client" and e["key"] == "greeting"]
    assert [e.get("value") for e in clients] == ["hello", "hello", None]


@pytest.mark.parametrize(
    ("command", "complaint"),
    [
        ({"action": "kill", "node": "n9"}, "no node 'n9'"),
        ({"action": "kill"}, "name the member"),
        ({"action": "partition", "groups": "n1"}, "list of groups"),
        ({"action": "partition", "groups": [["n1"], ["n1", "n2"]]}, "named twice"),
        ({"action": "put", "key": "\udc80", "value": "x"}, "not valid UTF-8"),
        ({"action": "put", "key": ""}, "non-empty"),
        ({"action": "stress", "count": 0}, "whole number"),
        ({"action": "speed", "speed": float("nan")}, "finite number"),
        ({"action": "explode"}, "unknown action"),
        ("kill n1", "a command is an object"),
    ],
)
def test_bad_commands_are_refused_and_the_session_goes_on(
    session: PlaySession, command: Any, complaint: str
) -> None:
    with pytest.raises(CommandError, match=complaint.replace("(", r"\(")):
        session.do(command, PATIENCE)
    assert session.do({"action": "heal"}, PATIENCE).ok


def test_pause_stops_time_and_step_moves_to_the_next_event(session: PlaySession) -> None:
    session.do({"action": "pause"})
    frozen = session.now()
    assert session.info().paused
    seen = threading.Event()
    unwatch = session.watch(lambda e: seen.set() if e["t"] > frozen + 0.5 else None)
    assert not seen.wait(0.3)  # paused: nothing moves (a bound, not a wait for success)
    unwatch()
    assert session.now() == frozen
    stepped = session.do({"action": "step"})
    assert frozen < session.now() <= frozen + 1.0
    assert stepped.at == pytest.approx(session.now())
    session.do({"action": "resume"})
    assert wait_for(lambda: session.now() > frozen + 1.0, PATIENCE)


def test_live_only_controls_are_refused_on_real_etcd() -> None:
    s = PlaySession(Scenario(), live=True, seed=1)  # never started: no etcd needed
    with pytest.raises(SessionError, match="simulator only"):
        s.do({"action": "pause"})


def replay(played: Path, check: bool = True) -> str:
    """``etcdplay simulate --replay`` of a played trace: the trace it writes."""
    replayed = played.with_name(played.stem + "-replayed.jsonl")
    done = subprocess.run(
        [sys.executable, "-m", "etcdplay", "simulate", "--replay", str(played), "--out", str(replayed), "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode in ((0,) if check else (0, 1)), done.stderr
    return replayed.read_text()


def _events_without(events: list[dict[str, Any]], until: float) -> list[dict[str, Any]]:
    return [e for e in events[1:] if e["t"] < until]


def test_a_played_session_replays_exactly(session: PlaySession, tmp_path: Path) -> None:
    assert wait_for(lambda: leader_of(session) is not None, PATIENCE)
    lead = leader_of(session)
    session.do({"action": "kill", "node": lead}, PATIENCE)
    session.do({"action": "stress", "count": 50, "node": "n3"}, PATIENCE)
    assert wait_for(lambda: leader_of(session) not in (None, lead), PATIENCE)
    session.do({"action": "put", "key": "a", "value": "1"}, PATIENCE)
    session.do({"action": "partition", "groups": [["n1", "n2"], ["n3", "n4", "n5"]]}, PATIENCE)
    session.do({"action": "delay", "node": "n4", "latency_ms": 20}, PATIENCE)
    session.do({"action": "heal"}, PATIENCE)
    session.do({"action": "restart", "node": lead}, PATIENCE)
    session.do({"action": "pause"})
    session.do({"action": "step"})
    session.do({"action": "resume"})
    session.do({"action": "get", "key": "a"}, PATIENCE)
    session.do({"action": "pause"})
    played = tmp_path / "played.jsonl"
    played.write_text(session.trace_jsonl())
    ours = [json.loads(line) for line in played.read_text().splitlines()]
    theirs = [json.loads(line) for line in replay(played).splitlines()]
    assert theirs[0]["messages"] is True
    end = ours[-1]["t"]
    assert _events_without(theirs, end) == _events_without(ours, end)
    # and the saved scenario says the same as the trace header
    toml = session.scenario_toml()
    assert "--seed 11" in toml
    sc = from_toml(toml, "played.toml")
    assert [s.action for s in sc.steps][-1] == "wait"
    assert sc.to_dict() == theirs[0]["scenario"]


def test_branch_keeps_the_past_and_drops_the_later_steps(session: PlaySession) -> None:
    assert wait_for(lambda: leader_of(session) is not None and session.now() > 1.0, PATIENCE)
    session.do({"action": "pause"})
    branch_at = session.now()
    session.do({"action": "resume"})
    assert wait_for(lambda: session.now() > branch_at + 0.2, PATIENCE)
    lead = leader_of(session)
    session.do({"action": "kill", "node": lead}, PATIENCE)
    assert wait_for(lambda: session.now() > branch_at + 1.0, PATIENCE)
    before = _events_without(session.events(), branch_at)
    resets = threading.Event()
    session.watch(lambda e: None, resets.set)
    result = session.do({"action": "branch", "t": branch_at}, PATIENCE)
    assert result.ok and resets.is_set() and session.generation == 1
    assert session.played == []
    assert _events_without(session.events(), branch_at) == before
    assert ClusterView.of(session.events(), until=branch_at).leader() is not None
    # the branch goes on in real time, and the killed leader was never killed
    assert wait_for(lambda: session.now() > branch_at + 0.5, PATIENCE)
    assert not any(e["kind"] == "fault" for e in session.events())
    with pytest.raises(SessionError, match="in the future"):
        session.do({"action": "branch", "t": session.now() + 100})


def test_a_lesson_plays_its_steps_at_their_times() -> None:
    lesson = load("leader-failure")
    with PlaySession(lesson, seed=7, speed=20.0) as s:
        assert wait_for(lambda: all(step["done"] for step in s.lesson_steps()), PATIENCE * 2)
        faults = [e for e in s.events() if e["kind"] == "fault"]
        wanted = [step.at for step in lesson.steps if step.action in ("crash", "stop", "restart")]
        assert [f["t"] for f in faults] == pytest.approx(wanted, abs=1e-6)
        assert all(step["note"] for step in s.lesson_steps() if step["action"] == "crash")


@pytest.mark.parametrize(
    ("command", "complaint"),
    [
        ({"action": "delay", "node": "n1", "latency_ms": "abc"}, "delay: latency_ms: cannot read 'abc'"),
        ({"action": "delay", "node": "n1", "latency_ms": "fixed(-5)"}, "delay: latency_ms: parameters"),
        ({"action": "partition", "groups": [[1, 2]]}, "partition: groups.0."),
    ],
)
def test_a_refusal_speaks_of_the_command_not_of_a_scenario_file(command: Any, complaint: str) -> None:
    s = PlaySession(Scenario(cluster=ClusterSpec(size=3)), seed=1)  # never started: parsing only
    with pytest.raises(CommandError) as refused:
        s.do(command)
    message = str(refused.value)
    assert message.startswith(complaint), message
    assert "steps[" not in message and "[[steps]]" not in message


def test_a_stress_runs_single_writes_stay_out_of_the_event_log() -> None:
    header = make_header(Scenario(cluster=ClusterSpec(size=3)), 1, "sim")
    events: list[dict[str, Any]] = [{"t": 0.0, "kind": "header", "schema": 1, **header}]
    events.append({"t": 0.1, "kind": "role", "node": "n1", "role": "leader", "term": 1})
    events.append(
        {"t": 0.2, "kind": "client", "node": "n1", "op": "put", "key": "k", "ok": True, "source": "step"}
    )
    for i in range(300):  # more than the log keeps: they must not push the election out
        t = 1.0 + i / 100
        events.append(
            {
                "t": t,
                "kind": "client",
                "node": "n1",
                "op": "put",
                "key": f"stress/0/{i}",
                "ok": True,
                "source": "load",
            }
        )
    view = ClusterView.of(events)
    assert [e["kind"] for e in view.recent] == ["role", "client"]
    assert view.writes_ok == 301  # the writes are still counted (and charted by the page)


def _stuck_lesson() -> Scenario:
    """A lesson whose second step waits a minute for a leader that cannot come."""
    return from_dict(
        {
            "name": "stuck",
            "cluster": {"size": 3},
            "steps": [
                {"at": 0.0, "action": "crash", "target": ["n1", "n2", "n3"]},
                {"at": 0.1, "action": "wait-for-leader", "timeout": 60},
            ],
        },
        "test",
    )


@pytest.mark.parametrize("how", ["close", "branch"])
def test_closing_or_branching_during_a_waiting_step_is_prompt(how: str) -> None:
    s = PlaySession(_stuck_lesson(), seed=1, speed=1.0)
    s.start()
    try:
        assert wait_for(lambda: all(step["done"] for step in s.lesson_steps()), PATIENCE)
        assert wait_for(lambda: s.now() > 0.3, PATIENCE)  # the wait step is under way
        began = time.monotonic()
        if how == "close":
            s.close()
        else:
            assert s.do({"action": "branch", "t": 0.05}, PATIENCE).ok
        # the worker gave up the step at once (it used to wait out its 30 s join,
        # and a branch left it spinning on the closed simulation for good)
        assert time.monotonic() - began < 15
    finally:
        s.close()


def test_a_played_lesson_replays_byte_for_byte(tmp_path: Path) -> None:
    # its wait-for-leader and expect steps poll the cluster: in real time they
    # must look at the same instants as the replay does
    with PlaySession(load("follower-failures"), seed=5, speed=8.0) as s:
        assert wait_for(lambda: s.now() > 3.0, PATIENCE)
        s.do({"action": "put", "key": "mine", "value": "x", "node": "n1"}, PATIENCE)
        assert wait_for(lambda: all(step["done"] for step in s.lesson_steps()), PATIENCE)
        s.do({"action": "pause"})
        played = tmp_path / "played.jsonl"
        played.write_text(s.trace_jsonl())
    ours = played.read_text().splitlines()[1:]
    theirs = replay(played).splitlines()[1:]
    assert any('"kind":"check","name":"wait-for-leader"' in line for line in ours)
    assert theirs[: len(ours)] == ours


def test_a_lesson_with_waiting_steps_replays_exactly(tmp_path: Path) -> None:
    """wait-for-leader and expect poll the cluster; in a session they slept wall
    seconds and woke at whatever instant the real-time clock had reached, so
    their checks (and what came after) fell at other times than in the replay."""
    lesson = load("leader-failure")
    with PlaySession(lesson, seed=9, speed=4.0) as s:
        assert wait_for(lambda: s.lesson_steps()[2]["done"], PATIENCE * 2)  # past the crash
        s.do({"action": "pause"})
        played = tmp_path / "played.jsonl"
        played.write_text(s.trace_jsonl())
    ours = [json.loads(line) for line in played.read_text().splitlines()]
    assert any(e["kind"] == "check" and e["name"] == "wait-for-leader" for e in ours)
    # its checks may fail: the played session stopped before the lesson's end
    theirs = [json.loads(line) for line in replay(played, check=False).splitlines()]
    end = ours[-1]["t"]
    assert _events_without(theirs, end) == _events_without(ours, end)


def no_quorum_lesson(wait: float, then_heal_at: float | None = None) -> Scenario:
    """Two of three members crash at 0, then a wait-for-leader (from 0.1, for
    ``wait`` seconds) that cannot succeed, and optionally a heal after it."""
    steps = [
        {"at": 0.0, "action": "crash", "target": ["n1", "n2"]},
        {"at": 0.1, "action": "wait-for-leader", "timeout": wait},
    ]
    if then_heal_at is not None:
        steps.append({"at": then_heal_at, "action": "heal"})
    return from_dict({"name": "no-quorum", "cluster": {"size": 3}, "steps": steps})


def test_a_step_still_waiting_at_the_next_lesson_step_does_not_stop_time() -> None:
    """The next lesson step's barrier held virtual time while a waiting step
    polled for its deadline beyond it: the session hung, its clock stopped."""
    lesson = no_quorum_lesson(wait=1.0, then_heal_at=0.3)
    with PlaySession(lesson, seed=3, speed=4.0) as s:
        assert wait_for(lambda: all(step["done"] for step in s.lesson_steps()), PATIENCE)
        checks = [e for e in s.events() if e["kind"] == "check"]
        assert [(c["name"], c["ok"], c["t"]) for c in checks] == [
            ("wait-for-leader", False, pytest.approx(1.1))
        ]
        heal = next(e for e in s.events() if e["kind"] == "fault" and e["action"] == "heal")
        assert heal["t"] == pytest.approx(1.1)  # late, as in `etcdplay simulate`: the wait came first


def test_closing_under_a_waiting_lesson_step_is_prompt() -> None:
    """Quitting (q in the terminal) while a lesson step waits for a leader that
    cannot come: close() waited out the step's deadline at the real-time pace
    (up to its 30 s join timeout) and left the worker behind."""
    lesson = no_quorum_lesson(wait=60.0)
    s = PlaySession(lesson, seed=3, speed=1.0)
    s.start()
    try:
        assert wait_for(lambda: s.lesson_steps()[1]["done"] and s.now() > 0.3, PATIENCE)
    finally:
        started = time.monotonic()
        s.close()
    assert time.monotonic() - started < 10  # 60 s of waiting left, at real time
    assert not any(t.name == "etcdplay-play" for t in threading.enumerate())
