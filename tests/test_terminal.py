"""``etcdplay terminal`` driven with Textual's headless pilot: keys pressed,
widgets read, on the simulator in real time (tests/live has one on etcd)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from terminal_pilot import (
    PATIENCE,
    in_terminal,
    panel,
    panel_hash,
    read_until,
    shown,
    shown_leader,
    until,
    wait_exit,
)
from textual.pilot import Pilot
from textual.widgets import Input
from typer.testing import CliRunner

from etcdplay.cli import app as cli_app
from etcdplay.play import PlaySession
from etcdplay.scenario import from_dict, load
from etcdplay.terminal.app import TerminalApp

Play = Callable[[TerminalApp, Pilot[Any]], Awaitable[None]]


def play(script: Play, session: PlaySession | None = None, size: tuple[int, int] = (80, 24)) -> None:
    """Run ``script`` against a dashboard on ``session`` (a 3-member simulator by default)."""
    session = session or PlaySession(from_dict({"name": "t", "cluster": {"size": 3}}), seed=5, speed=4.0)
    session.start()

    async def main() -> None:
        app = TerminalApp(session)
        async with app.run_test(size=size) as pilot:
            await script(app, pilot)

    try:
        asyncio.run(main())
    finally:
        session.close()


def follower_of(app: TerminalApp) -> str:
    """A running member that does not lead (not one that was killed)."""
    lead = shown_leader(app)
    return next(n for n in app.names if n != lead and "down" not in panel(app, n))


async def select(pilot: Pilot[Any], name: str) -> None:
    await pilot.press(name.removeprefix("n"))  # keys 1-9 select a member


def test_killing_the_leader_shows_a_new_leader() -> None:
    async def script(app: TerminalApp, pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: shown_leader(app), "a leader")
        old = shown_leader(app)
        assert old is not None
        await select(pilot, old)
        assert app.panels[old].border_title == f"> {old}"
        assert "LEADER" in panel(app, old)
        await pilot.press("k")
        await until(pilot, lambda: shown_leader(app) not in (None, old), "a new leader")
        assert "down" in panel(app, old)
        assert f"crash {old}" in app.last_result
        new = shown_leader(app)
        assert new is not None and "LEADER" in panel(app, new)
        await until(pilot, lambda: f"{old} -> down" in log_text(app), "the kill in the event log")

    play(script)


def log_text(app: TerminalApp) -> str:
    return "\n".join(line.text for line in app.log_widget.lines)


def test_partition_put_heal_converge_and_get() -> None:
    async def script(app: TerminalApp, pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: shown_leader(app), "a leader")
        lonely = follower_of(app)
        others = [n for n in app.names if n != lonely]
        await select(pilot, lonely)
        await pilot.press("p")  # the dialog ticks the selected member: it against the rest
        await until(pilot, lambda: app.screen.query("SelectionList"), "the partition dialog")
        await pilot.press("enter")
        await until(pilot, lambda: "split" in shown(app, "cluster"), "the partition on the cluster line")
        assert f"split {lonely} | {' '.join(others)}" in shown(app, "cluster")
        assert app.panels[lonely].border_title == f"> {lonely} (A)"
        assert all(app.panels[n].border_title.endswith("(B)") for n in others)

        await select(pilot, others[0])  # write on the majority side
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.focused, Input), "the put dialog")
        await pilot.press("enter")  # key: the default, "greeting"
        await pilot.press(*"hello", "enter")
        await until(pilot, lambda: "put greeting ok" in app.last_result, "the put result")
        await until(
            pilot,
            lambda: panel_hash(app, lonely) not in (None, panel_hash(app, others[0])),
            "the cut-off member's hash to differ",
        )

        await pilot.press("h")
        await until(pilot, lambda: "split" not in shown(app, "cluster"), "the heal")

        def converged() -> bool:
            hashes = {panel_hash(app, n) for n in app.names}
            return len(hashes) == 1 and None not in hashes and "hashes agree" in shown(app, "cluster")

        await until(pilot, converged, "converged hashes")
        assert app.panels[lonely].border_title == f"{lonely}"

        await select(pilot, lonely)  # read it back through the member that was cut off
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.focused, Input), "the get dialog")
        await pilot.press("enter")
        await until(pilot, lambda: "greeting = 'hello'" in app.last_result, "the GET result")
        assert "greeting = 'hello'" in shown(app, "result")

    play(script)


def test_saved_scenario_replays_with_simulate(tmp_path: Path) -> None:
    saved = tmp_path / "played"
    seed = 21

    async def script(app: TerminalApp, pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: shown_leader(app), "a leader")
        lead = shown_leader(app)
        assert lead is not None
        await select(pilot, lead)
        await pilot.press("k")
        await until(pilot, lambda: shown_leader(app) not in (None, lead), "a new leader")
        await select(pilot, follower_of(app))
        await pilot.press("w")  # stress: 100 writes at 100/s, the defaults
        await until(pilot, lambda: isinstance(app.focused, Input), "the stress dialog")
        await pilot.press("enter", "enter")
        # the sparklines are read while the stress runs: on a loaded machine the
        # finished stress can scroll out of their window before a late check
        await until(pilot, lambda: any(v > 0 for v in app.sparklines["tput"].data or []), "throughput drawn")
        await until(pilot, lambda: any(v > 0 for v in app.sparklines["lat"].data or []), "latency drawn")
        await until(pilot, lambda: "acked" in log_text(app), "the stress to finish")
        await until(pilot, lambda: "writes/s" in shown(app, "tput-label"), "the throughput label")
        await pilot.press("space")
        await until(pilot, lambda: "PAUSED" in shown(app, "top"), "the pause")
        await pilot.press("S")
        await until(pilot, lambda: isinstance(app.focused, Input), "the save dialog")
        assert isinstance(app.focused, Input)
        app.focused.value = str(saved)
        await pilot.press("enter")
        await until(pilot, lambda: app.last_result.startswith("saved"), "the save")

    play(script, PlaySession(from_dict({"name": "t", "cluster": {"size": 3}}), seed=seed, speed=4.0))
    toml, trace = saved.with_suffix(".toml"), saved.with_suffix(".jsonl")
    assert f"--seed {seed}" in toml.read_text()
    replayed = tmp_path / "replayed.jsonl"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "etcdplay",
            "simulate",
            str(toml),
            "--seed",
            str(seed),
            "--messages",
            "--out",
            str(replayed),
            "-q",
        ],
        check=True,
        timeout=300,
    )
    ours = [json.loads(line) for line in trace.read_text().splitlines()]
    theirs = [json.loads(line) for line in replayed.read_text().splitlines()]
    end = ours[-1]["t"]
    assert [e for e in theirs[1:] if e["t"] < end] == [e for e in ours[1:] if e["t"] < end]
    assert any(e["kind"] == "fault" and e["action"] == "crash" for e in ours)


def test_fits_80x24_with_a_lesson_help_and_quit() -> None:
    async def script(app: TerminalApp, pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: re.match(r"lesson [1-9]/6 \w", shown(app, "lesson")), "the lesson's prose")
        width, height = app.size
        assert (width, height) == (80, 24)
        for name in app.names:  # every panel whole on screen, side by side
            region = app.panels[name].region
            assert region.width >= 14 and region.bottom <= height and region.right <= width
            assert "term" in panel(app, name) and "keys" in panel(app, name)
        log = app.log_widget.region
        assert log.height >= 3 and log.bottom <= height - 1
        await pilot.press("question_mark")
        await until(pilot, lambda: app.screen.id == "help", "the help screen")
        page = str(app.screen.query_one("#page").content)
        assert "kill the selected member" in page and "partition" in page and "save" in page
        await pilot.press("escape")
        await until(pilot, lambda: app.screen.id != "help", "help to close")
        await pilot.press("l")
        await until(pilot, lambda: app.screen.query("#page"), "the lesson screen")
        assert "[x]" in str(app.screen.query_one("#page").content)
        await pilot.press("escape")
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, "q to quit")

    play(script, PlaySession(load("leader-failure"), seed=3, speed=4.0))


def test_no_color_degrades_to_greys_and_words(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    colours: set[str] = set()

    async def script(app: TerminalApp, pilot: Pilot[Any]) -> None:
        assert app.no_color
        await until(pilot, lambda: shown_leader(app), "a leader")
        await select(pilot, follower_of(app))
        await pilot.press("k")
        await until(pilot, lambda: "down" in shown(app, f"member-{app.names[app.selected]}"), "a member down")
        # cell backgrounds (rects) and text colours (CSS); the window's buttons are circles
        screenshot = app.export_screenshot()
        colours.update(re.findall(r'(?:<rect[^>]*fill="#|fill: #)([0-9a-fA-F]{6})', screenshot))
        lead = shown_leader(app)
        assert lead is not None and "LEADER" in panel(app, lead)
        assert app.panels[app.names[app.selected]].border_title.startswith(">")

    play(script)
    assert colours
    for colour in colours:  # the monochrome filter leaves only greys
        r, g, b = (int(colour[i : i + 2], 16) for i in (0, 2, 4))
        assert max(r, g, b) - min(r, g, b) <= 8, colours


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--size", "0"], "size"),
        (["--scenario", "no-such-lesson"], "no-such-lesson"),
        (["--live", "--speed", "2"], "simulator only"),
        (["--speed", "0"], "--speed"),
        (["--scenario", "leader-failure", "--size", "30"], "--size 30"),
        (["--fps", "0"], "--fps"),
        ([], "interactive terminal"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli_app, ["terminal", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_refused_command_is_shown_and_play_goes_on() -> None:
    async def script(app: TerminalApp, pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: shown_leader(app), "a leader")
        app.send({"action": "partition", "groups": [["n1"], ["n9"]]})
        await until(pilot, lambda: "partition:" in app.last_result, "the refusal")
        assert "n9" in app.last_result
        await pilot.press("plus")
        await until(pilot, lambda: "8x" in shown(app, "top"), "the new speed")

    play(script)


def test_the_command_in_a_terminal_stops_on_ctrl_c() -> None:
    child, fd = in_terminal(["--size", "3", "--seed", "4", "--speed", "2"])
    try:
        read_until(fd, b"LEADER", PATIENCE)
        os.write(fd, b"\x03")
        assert wait_exit(child, fd, PATIENCE) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(fd)


LONG_NOTE = (
    "A note long enough to need two lines at eighty columns: the lesson line wraps it "
    "rather than cut the sentence off at the edge of the screen."
)


def test_80x24_shows_every_key_and_a_long_lesson_line_whole() -> None:
    """The footer lists every key (quit too) without cutting one; a lesson's prose
    that wraps gets its second line (the lesson line kept the height of its first text)."""
    lesson = from_dict(
        {
            "name": "long-note",
            "cluster": {"size": 3},
            "steps": [
                {"at": 0.3, "action": "wait-for-leader", "note": "Short."},
                {"at": 0.6, "action": "wait-for-leader", "note": LONG_NOTE},
            ],
        }
    )

    async def script(app: TerminalApp, pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: "lesson 2/2" in shown(app, "lesson"), "the lesson's step")
        await until(pilot, lambda: app.statics["lesson"].region.height == 2, "the lesson line on two lines")
        keys = app.statics["keys"]
        shown_keys = shown(app, "keys")
        for key, word in [("?", "help"), ("k", "kill"), ("p", "partition"), ("u", "put"), ("g", "get")]:
            assert f"{key} {word}" in shown_keys
        for key, word in [("d", "del"), ("space", "pause"), ("l", "lesson"), ("S", "save"), ("q", "quit")]:
            assert f"{key} {word}" in shown_keys
        lines = shown_keys.split("\n")
        assert all(len(line) <= 80 for line in lines) and keys.region.height == len(lines)
        assert keys.region.bottom == 24
        assert app.log_widget.region.height >= 3
        for name in app.names:
            assert app.panels[name].region.bottom <= app.log_widget.region.y

    play(script, PlaySession(lesson, seed=5, speed=4.0))


def test_bad_input_in_prompts_gets_a_clear_message() -> None:
    async def answer(pilot: Pilot[Any], app: TerminalApp, key: str, *values: str) -> None:
        await pilot.press(key)
        await until(pilot, lambda: isinstance(app.focused, Input), f"the dialog of {key}")
        for value in values:
            assert isinstance(app.focused, Input)
            app.focused.value = value
            await pilot.press("enter")

    async def script(app: TerminalApp, pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: shown_leader(app), "a leader")
        # refusals name the action once ("stress: stress: ..." before)
        await answer(pilot, app, "w", "1.5", "100")
        await until(pilot, lambda: "whole number" in app.last_result, "the count refusal")
        assert app.last_result == "stress: the count must be a whole number, the rate a number"
        await answer(pilot, app, "w", "0", "100")
        await until(pilot, lambda: "count" in app.last_result, "the stress refusal")
        assert app.last_result == "stress: 'count' must be a whole number from 1 to 100000"
        await answer(pilot, app, "u", "", "v")
        await until(pilot, lambda: "key" in app.last_result, "the put refusal")
        assert app.last_result == "put: 'key' must be a non-empty string"
        # a typed partition needs two groups; one group was sent as a partition that cut nothing
        before = app.last_result
        await pilot.press("p")
        await until(pilot, lambda: app.screen.query("#groups"), "the partition dialog")
        app.screen.query_one("#groups", Input).value = "n1 n2 n3"
        await pilot.press("enter")
        await pilot.pause(0.5)
        assert type(app.screen).__name__ == "PartitionDialog" and app.last_result == before
        await pilot.press("escape")
        await until(pilot, lambda: type(app.screen).__name__ != "PartitionDialog", "the dialog to close")
        # save: an empty name or a directory is said, not silently dropped or misnamed
        await answer(pilot, app, "S", "")
        await until(pilot, lambda: "file name" in app.last_result, "the empty-name message")
        await answer(pilot, app, "S", str(Path.cwd()) + "/")
        await until(pilot, lambda: "is a directory" in app.last_result, "the directory message")
        await answer(pilot, app, "S", "/no/such/dir/x")
        await until(pilot, lambda: "cannot write" in app.last_result, "the unwritable message")
        assert app.last_result.startswith("save /no/such/dir/x.toml: cannot write")

    play(script)


def test_many_members_go_in_rows_that_fit_80x24() -> None:
    """25 members (the most --size takes) in 80 columns: panels 3 columns wide
    drew empty boxes; the members go in rows instead, every one readable."""

    async def script(app: TerminalApp, pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: shown_leader(app), "a leader")
        await until(pilot, lambda: "LEADER" in shown(app, "rows"), "the rows")
        assert app.statics["rows"].display and not app.query_one("#members").display
        lines = shown(app, "rows").split("\n")
        assert len(lines) == 13 and all(len(line) <= 80 for line in lines)
        for name in app.names:
            assert re.search(rf"(^|\s|>){name}\s", shown(app, "rows")), name
        await pilot.press("left")  # the last member, n25
        await until(pilot, lambda: ">n25 " in shown(app, "rows"), "the selection mark")
        rows, log = app.statics["rows"].region, app.log_widget.region
        assert rows.height == 13 and log.height >= 3 and log.bottom <= 22

    play(script, PlaySession(from_dict({"name": "t", "cluster": {"size": 25}}), seed=5, speed=2.0))
