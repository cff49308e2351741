"""What the web page is a view on: a play session, or a recorded trace.

Both give the same few things: the history so far (trace events), a way to
be told about new events and about a branch replacing the history, commands,
and the files to download. ``SessionSource`` adds nothing to
``PlaySession``: it only says it in the words the page uses.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict
from typing import Any, Protocol

from etcdplay.play import PlaySession
from etcdplay.play.session import CommandResult
from etcdplay.trace import Event

#: What the page says on real etcd about the panels it cannot fill.
LIVE_UNOBSERVABLE = (
    "Real etcd does not expose its peer messages, election timers or Raft logs: "
    "this page shows what etcd lets us observe (roles, terms and votes from each "
    "member's own log; commit and applied index, keys, hash and db size from "
    "status polling)."
)


class Source(Protocol):
    def info(self) -> dict[str, Any]: ...

    def now(self) -> float: ...

    def paused(self) -> bool: ...

    def events(self) -> list[Event]: ...

    def watch(
        self, on_event: Callable[[Event], None], on_reset: Callable[[], None] | None = None
    ) -> Callable[[], None]: ...

    def submit(self, command: dict[str, Any]) -> Future[CommandResult]: ...

    def lesson(self) -> list[dict[str, Any]]: ...

    def played(self) -> list[dict[str, Any]]: ...

    def trace_jsonl(self) -> str: ...

    def scenario_toml(self) -> str: ...

    def close(self) -> None: ...


class SessionSource:
    """A ``PlaySession`` as the page sees it."""

    def __init__(self, session: PlaySession, start_on_view: bool = False) -> None:
        self.session = session
        # a lesson created paused starts when its first tab opens: played
        # before anyone looks, its first steps would be over unseen
        self._start_on_view = start_on_view
        self._paused_unwatched = False  # paused by viewers_gone, not by a person

    def viewer_joined(self) -> None:
        if self._start_on_view or self._paused_unwatched:
            self._start_on_view = False
            self._paused_unwatched = False
            self.session.do({"action": "resume"})

    def viewers_gone(self) -> None:
        """The last tab closed a while ago. A simulated session nobody watches
        stops its clock: its whole history stays in memory (time travel, the
        download), about 64 KB per simulated second with messages, so a tab
        left closed overnight would otherwise grow it by gigabytes. The next
        tab resumes it; a pause a person chose stays theirs."""
        if self.session.live or self.paused():
            return
        self.session.do({"action": "pause"})
        self._paused_unwatched = True

    def info(self) -> dict[str, Any]:
        info = asdict(self.session.info())
        info["mode"] = "live" if self.session.live else "sim"
        info["generation"] = self.session.generation
        if self.session.live:
            info["unobservable"] = LIVE_UNOBSERVABLE
        return info

    def now(self) -> float:
        return self.session.now()

    def paused(self) -> bool:
        return bool(self.session.info().paused)

    def events(self) -> list[Event]:
        return self.session.events()

    def watch(
        self, on_event: Callable[[Event], None], on_reset: Callable[[], None] | None = None
    ) -> Callable[[], None]:
        return self.session.watch(on_event, on_reset)

    def submit(self, command: dict[str, Any]) -> Future[CommandResult]:
        return self.session.submit(command)

    def lesson(self) -> list[dict[str, Any]]:
        return self.session.lesson_steps()

    def played(self) -> list[dict[str, Any]]:
        return [s.model_dump(mode="json", exclude_none=True) for s in self.session.played]

    def trace_jsonl(self) -> str:
        return self.session.trace_jsonl()

    def scenario_toml(self) -> str:
        return self.session.scenario_toml()

    def close(self) -> None:
        self.session.close()
