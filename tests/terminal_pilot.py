"""Helpers for driving ``etcdplay terminal`` with Textual's headless pilot."""

from __future__ import annotations

import re
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
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
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
