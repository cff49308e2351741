"""Helpers for driving ``etcdplay terminal`` with Textual's headless pilot."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from etcdplay.terminal.app import TerminalApp

#: Generous wall-clock bounds: they only stop a hang (a loaded machine is slow).
PATIENCE = 90.0


async def until(
    pilot: Pilot[Any], predicate: Callable[[], object], what: str, timeout: float = PATIENCE
) -> None:
    """Let the app run until ``predicate`` holds (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            app = pilot.app
            said = getattr(app, "last_result", "")
            log = getattr(app, "log_widget", None)
            tail = [line.text for line in log.lines[-8:]] if log is not None else []
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {what} (last result: {said!r}; log: {tail})"
            )
        await pilot.pause(0.05)


def shown(app: TerminalApp, widget_id: str) -> str:
    """The text a widget of the dashboard shows now."""
    return str(app.statics[widget_id].content)


def shown_leader(app: TerminalApp) -> str | None:
    match = re.search(r"leader (n\d+)", shown(app, "cluster"))
    return match.group(1) if match else None


def panel(app: TerminalApp, name: str) -> str:
    return shown(app, f"member-{name}")


def panel_hash(app: TerminalApp, name: str) -> str | None:
    match = re.search(r"#([0-9a-f]{8})", panel(app, name))
    return match.group(1) if match else None


# --- the real command in a pseudo-terminal -------------------------------------------


def in_terminal(args: list[str], size: tuple[int, int] = (80, 24)) -> tuple[subprocess.Popen[bytes], int]:
    """``etcdplay terminal ARGS`` on a new pseudo-terminal of ``size``; returns
    the process and the terminal's (non-blocking) controlling side."""
    main_fd, child_fd = pty.openpty()
    fcntl.ioctl(child_fd, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
    env = {**os.environ, "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    child = subprocess.Popen(
        [sys.executable, "-m", "etcdplay", "terminal", *args],
        stdin=child_fd,
        stdout=child_fd,
        stderr=child_fd,
        env=env,
        start_new_session=True,
    )
    os.close(child_fd)
    os.set_blocking(main_fd, False)
    return child, main_fd


def read_until(fd: int, pattern: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while pattern not in seen:
        if time.monotonic() > deadline:
            raise AssertionError(f"no {pattern!r} on the screen within {timeout:g} s: {seen[-400:]!r}")
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            time.sleep(0.05)
            continue
        except OSError:  # the child closed the terminal
            break
        seen += chunk
    return seen


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 65536):
            pass
    except OSError:  # nothing more now (or the child closed the terminal)
        pass


def wait_exit(child: subprocess.Popen[bytes], fd: int, timeout: float) -> int:
    """The exit status, reading the terminal meanwhile (a full one would block the app)."""
    deadline = time.monotonic() + timeout
    while child.poll() is None and time.monotonic() < deadline:
        _drain(fd)
        time.sleep(0.05)
    return child.wait(1)
