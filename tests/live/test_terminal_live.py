"""``etcdplay terminal --live``: the dashboard on real etcd members, driven
by Textual's pilot, and the real command in a pseudo-terminal, quit with q."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any

import psutil
import pytest
from terminal_pilot import in_terminal, panel, read_until, shown, shown_leader, until, wait_exit
from textual.widgets import Input

from etcdplay.live.etcd import live_pids
from etcdplay.play import PlaySession
from etcdplay.terminal.app import TerminalApp

from .conftest import ETCD_34, _available, scenario

pytestmark = [pytest.mark.live, pytest.mark.skipif(not _available(ETCD_34), reason="no etcd 3.4")]

PATIENCE = 90.0


async def attempt(app: TerminalApp, pilot: Any, key: str, typed: list[str], expect: str) -> None:
    """Open a dialog with ``key``, type, and wait for ``expect`` on the result
    line; real etcd may refuse a request (an election under load): try again."""
    for _ in range(3):
        app.last_result = ""
        await pilot.press(key)
        await until(pilot, lambda: isinstance(app.focused, Input), f"the dialog of {key!r}")
        await pilot.press(*typed)
        await until(pilot, lambda: app.last_result, f"the result of {key!r}")
        if expect in app.last_result:
            assert expect in shown(app, "result")
            return
    raise AssertionError(f"{key!r}: {app.last_result}")


def test_dashboard_on_real_etcd_kill_put_get_db_size(tmp_path: Path) -> None:
    # etcd's default timers: the tests' fast ones (10/100 ms) make a loaded
    # machine hold elections all the time, and every write then may fail
    session = PlaySession(
        scenario(3, heartbeat_ms=100, election_timeout_ms=1000), live=True, seed=1, etcd_bin=ETCD_34
    )
    session.start()

    async def main() -> None:
        app = TerminalApp(session)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: shown_leader(app), "a leader")
            await until(
                pilot,
                lambda: all(re.search(r"db \d", panel(app, n)) for n in app.names),
                "db sizes from etcd's Status",
            )
            old = shown_leader(app)
            assert old is not None
            await pilot.press(old.removeprefix("n"))
            await pilot.press("k")
            await until(pilot, lambda: shown_leader(app) not in (None, old), "a new leader")
            assert "down" in panel(app, old)
            other = next(n for n in app.names if n != old)
            await pilot.press(other.removeprefix("n"))
            await attempt(app, pilot, "u", ["enter", *"hello", "enter"], "put greeting ok")
            await attempt(app, pilot, "g", ["enter"], "greeting = 'hello'")
            await pilot.press("space")  # pause: the simulator's, refused on real etcd
            await until(pilot, lambda: "simulator only" in app.last_result, "the refusal")
            assert "live" in shown(app, "top")
            assert app.save(tmp_path / "played") is not None  # the replay hint names the file
            assert f"replay: etcdplay live {tmp_path / 'played.toml'}" in app.last_result
            await pilot.press("q")
            await until(pilot, lambda: not app.is_running, "q to quit")

    try:
        asyncio.run(main())
    finally:
        session.close()
    assert live_pids() == []


def test_the_command_in_a_terminal_quits_with_q_and_stops_every_member() -> None:
    child, main_fd = in_terminal(["--live", "--size", "3", "--etcd-bin", ETCD_34])
    etcds: list[psutil.Process] = []
    try:
        read_until(main_fd, b"LEADER", PATIENCE)
        etcds = [p for p in psutil.Process(child.pid).children(recursive=True) if "etcd" in p.name()]
        assert len(etcds) == 3
        os.write(main_fd, b"q")
        assert wait_exit(child, main_fd, PATIENCE) == 0
        _gone, alive = psutil.wait_procs(etcds, timeout=PATIENCE)
        assert alive == []
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for process in etcds:
            if process.is_running():
                process.kill()
        os.close(main_fd)
