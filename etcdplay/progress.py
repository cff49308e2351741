"""A live run's progress on stderr: the step running, the leader and its term,
writes acknowledged and failed, and how far through the scenario it is.

A live run takes wall-clock time (tens of seconds) and used to print one line
and then nothing until the end. This view follows the trace as it is written
(it is one more subscriber of the TraceWriter), so it shows what the trace
records and nothing else. ``--quiet`` turns it off; on a stderr that is not a
terminal rich draws it once, at the end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

from etcdplay.trace import TraceWriter


class ProgressState:
    """What the progress line shows, folded from trace events (thread-safe)."""

    def __init__(self, total_steps: int, duration: float) -> None:
        self.total_steps, self.duration = total_steps, duration
        self.step = "starting the cluster"
        self.step_index: int | None = None
        self.leader: str | None = None
        self.term: int | None = None
        self.ok = self.failed = 0
        self.t = 0.0
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> None:
        with self._lock:
            self.t = max(self.t, float(event.get("t", 0.0)))
            kind = event.get("kind")
            if kind == "step":
                self.step_index = event.get("index")
                nodes = event.get("nodes") or []
                self.step = f"{event.get('action')}" + (f" {', '.join(map(str, nodes))}" if nodes else "")
            elif kind == "role":
                if event.get("role") == "leader":
                    self.leader, self.term = event.get("node"), event.get("term")
                elif event.get("node") == self.leader:
                    self.leader = None
            elif kind == "client":
                if event.get("ok"):
                    self.ok += 1
                else:
                    self.failed += 1
            elif kind == "check" and event.get("name") == "convergence":
                self.step = "checking the end state"

    def line(self) -> Text:
        with self._lock:
            index = "" if self.step_index is None else f"step {self.step_index + 1}/{self.total_steps}: "
            leader = f"{self.leader} (term {self.term})" if self.leader else "none"
            text = Text()
            text.append(f"{self.t:6.1f} s", style="bold")
            text.append(f" of ~{self.duration:.0f} s  {index}{self.step}  ")
            text.append(f"leader {leader}  ")
            text.append(f"writes {self.ok} ok", style="green")
            text.append(", ")
            text.append(f"{self.failed} failed", style="red" if self.failed else "")
            return text


class _Renderable:
    def __init__(self, state: ProgressState) -> None:
        self.state = state

    def __rich__(self) -> Text:
        return self.state.line()


@contextmanager
def live_progress(
    writer: TraceWriter, console: Console, total_steps: int, duration: float
) -> Iterator[ProgressState]:
    """Show the run's progress on ``console`` while the block runs."""
    state = ProgressState(total_steps, duration)
    unsubscribe = writer.subscribe(state)
    started = time.monotonic()
    try:
        with Live(_Renderable(state), console=console, refresh_per_second=4, transient=True):
            yield state
    finally:
        unsubscribe()
    if not console.is_terminal:
        return
    console.print(
        f"ran {time.monotonic() - started:.1f} s: {state.ok} writes ok, {state.failed} failed",
        highlight=False,
    )
