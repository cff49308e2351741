"""``etcdplay web --trace run.jsonl``: a recorded run, played back.

The events of the file are released to the page as their time comes, at a
speed the user sets; pause, step and speed work as on the simulator, and the
time slider scrubs through what was released. A recording cannot be changed:
cluster commands are refused with a message saying how to play it instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import tomli_w

from etcdplay.play.commands import CONTROL_ACTIONS, CommandError, Control, parse_command
from etcdplay.play.session import CommandResult
from etcdplay.scenario import Scenario, ScenarioError, from_dict
from etcdplay.trace import Event, Trace, encode, read_trace

#: Kinds a step in playback runs to (as the session's step does).
_QUIET = ("status", "timer")


class TracePlayer:
    """A trace file as a ``Source`` (see ``etcdplay.web.source``)."""

    def __init__(self, path: Path, speed: float = 1.0) -> None:
        self.path = path
        self.trace: Trace = read_trace(path)
        self.header: Event = self.trace.header
        self.all: list[Event] = self.trace.events
        self.end = self.all[-1]["t"] if self.all else 0.0
        self.speed = speed
        self._lock = threading.RLock()
        self._released = 0  # events[: _released] have been shown
        self._base = 0.0  # virtual time at ``_wall``
        self._wall = time.monotonic()
        # The recording starts playing when the first tab opens: a short
        # trace would otherwise be over before the browser has loaded the page.
        self._paused = True
        self._started = False
        self._watchers: list[Callable[[Event], None]] = []
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.scenario: Scenario | None = None
        data = self.header.get("scenario")
        if isinstance(data, dict):
            try:
                self.scenario = from_dict(data, f"{path} (header)")
            except ScenarioError:
                self.scenario = None

    # --- the clock ------------------------------------------------------------------

    def now(self) -> float:
        with self._lock:
            if self._paused:
                return self._base
            return min(self.end, self._base + (time.monotonic() - self._wall) * self.speed)

    def paused(self) -> bool:
        return self._paused

    def _set_clock(self, t: float, paused: bool) -> None:
        with self._lock:
            self._base, self._wall, self._paused = t, time.monotonic(), paused
        self._wake.set()

    def viewer_joined(self) -> None:
        if not self._started:
            self._started = True
            self._set_clock(0.0, False)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._play, name="etcdplay-replay", daemon=True)
        self._thread.start()

    def _play(self) -> None:
        while not self._stop.is_set():
            self._release_until(self.now())
            with self._lock:
                upcoming = self.all[self._released]["t"] if self._released < len(self.all) else None
                wait = 0.5
                if upcoming is not None and not self._paused:
                    wait = min(0.5, max(0.0, (upcoming - self.now()) / self.speed))
            self._wake.wait(wait)
            self._wake.clear()

    def _release_until(self, t: float) -> None:
        batch: list[Event] = []
        with self._lock:
            while self._released < len(self.all) and self.all[self._released]["t"] <= t:
                batch.append(self.all[self._released])
                self._released += 1
        for event in batch:
            for watcher in tuple(self._watchers):
                watcher(event)

    # --- Source ---------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        sc = self.scenario
        backend = str(self.header.get("backend", "?"))
        messages = self.header.get("messages") is True
        info: dict[str, Any] = {
            "backend": backend,
            "mode": "replay",
            "seed": self.header.get("seed"),
            "scenario": sc.name if sc else "?",
            "explain": sc.explain if sc else "",
            "nodes": list(self.header.get("nodes") or []),
            "speed": self.speed,
            "paused": self._paused,
            "generation": 0,
            "file": self.path.name,
            "end": self.end,
            "capabilities": {
                "pause": True,
                "step": True,
                "speed": True,
                "branch": False,
                "messages": messages,
                "timers": messages,
                "logs": messages,
                "commands": False,
            },
            "extra": {},
        }
        if backend == "live":
            from etcdplay.web.source import LIVE_UNOBSERVABLE

            info["unobservable"] = LIVE_UNOBSERVABLE
        return info

    def events(self) -> list[Event]:
        with self._lock:
            return [self.header, *self.all[: self._released]]

    def watch(
        self, on_event: Callable[[Event], None], on_reset: Callable[[], None] | None = None
    ) -> Callable[[], None]:
        self._watchers.append(on_event)

        def unwatch() -> None:
            if on_event in self._watchers:
                self._watchers.remove(on_event)

        return unwatch

    def submit(self, command: dict[str, Any]) -> Future[CommandResult]:
        future: Future[CommandResult] = Future()
        try:
            future.set_result(self._control(command))
        except CommandError as exc:
            future.set_exception(exc)
        return future

    def _control(self, command: dict[str, Any]) -> CommandResult:
        action = command.get("action") if isinstance(command, dict) else None
        if action not in CONTROL_ACTIONS:
            raise CommandError(
                f"{action}: this is a recorded trace ({self.path.name}); to act on the cluster, play it: "
                "etcdplay web --scenario SCENARIO.toml (download the scenario below)"
            )
        if self.scenario is None:
            raise CommandError(f"{self.path.name}: the trace header holds no scenario")
        parsed = parse_command(command, self.scenario)
        assert isinstance(parsed, Control)
        now = self.now()
        if parsed.action == "pause":
            self._set_clock(now, True)
            return CommandResult(True, "pause", "paused", now)
        if parsed.action == "resume":
            self._set_clock(now, False)
            return CommandResult(True, "resume", "playing", now)
        if parsed.action == "speed":
            assert parsed.value is not None
            with self._lock:
                self._set_clock(now, self._paused)
                self.speed = parsed.value
            return CommandResult(True, "speed", f"speed {parsed.value:g}x", now)
        if parsed.action == "step":
            target = self._next_interesting(now)
            self._set_clock(target, True)
            self._release_until(target)
            return CommandResult(True, "step", f"stepped to t={target:.6f}", target)
        raise CommandError("branch: a recorded trace cannot branch; play its scenario to change the past")

    def _next_interesting(self, now: float) -> float:
        with self._lock:
            for event in self.all[self._released :]:
                if event["t"] > now + 1.0:
                    return now + 1.0
                if event["kind"] not in _QUIET:
                    return float(event["t"])
        return min(self.end, now + 1.0)

    def lesson(self) -> list[dict[str, Any]]:
        return []

    def played(self) -> list[dict[str, Any]]:
        sc = self.scenario
        return [s.model_dump(mode="json", exclude_none=True) for s in sc.steps] if sc else []

    def trace_jsonl(self) -> str:
        return "\n".join(encode(e) for e in [self.header, *self.all]) + "\n"

    def scenario_toml(self) -> str:
        if self.scenario is None:
            raise CommandError(f"{self.path.name}: the trace header holds no scenario")
        return f"# From the trace {self.path.name}, seed {self.header.get('seed')}.\n" + tomli_w.dumps(
            self.scenario.to_dict()
        )

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
