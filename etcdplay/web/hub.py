"""The hub: one source, many browser tabs, updates in batches.

Trace events arrive from the simulator's (or etcd pollers') threads, one at a
time and sometimes thousands a second. The hub only queues them there; every
``BATCH_SECONDS`` its flush task (on the server's event loop) folds them into
one ``ClusterView`` and sends every tab the same message: the view as it is
now and the events since the last batch. Every tab gets the same messages in
the same order, so several tabs show the same cluster. A tab that cannot keep
up (its queue full) is sent a fresh snapshot instead of the backlog.

Time travel is a fold too: a tab asking for time ``t`` gets
``ClusterView.of(history, until=t)``, computed off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from etcdplay.backend import BackendError
from etcdplay.play import CommandError, SessionError
from etcdplay.play.view import ClusterView
from etcdplay.trace import Event
from etcdplay.web.source import Source

log = logging.getLogger("etcdplay.web")

#: How often tabs get a batch (seconds): below a browser frame pair, so
#: animation stays smooth, while thousands of events a second go in few messages.
BATCH_SECONDS = 0.05
#: With nothing new, a batch still goes out this often (the clock moves on).
IDLE_SECONDS = 0.25
#: A simulated session with no tab open this long is paused (Source.viewers_gone).
UNWATCHED_SECONDS = 60.0
#: Kinds the page is not sent one by one: the view carries what they say.
_FOLDED_ONLY = frozenset({"timer", "commit"})
#: How many past events a tab joining late gets for its charts and event log.
HISTORY_EVENTS = 6000
#: A tab's queue of unsent messages; past it, it is resynchronised.
CLIENT_QUEUE = 64
#: In-flight messages sent in one view (a drawing can only show so many).
MAX_IN_FLIGHT = 300

Send = Callable[[str], Awaitable[None]]


def _dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _echo(value: Any) -> Any:
    """A request's ``id`` or ``seq`` as it can be sent back (1e400 cannot)."""
    return value if value is None or isinstance(value, int | str) else None


def view_dict(view: ClusterView) -> dict[str, Any]:
    data = view.as_dict()
    flights = data["in_flight"]
    if len(flights) > MAX_IN_FLIGHT:
        data["in_flight"] = flights[-MAX_IN_FLIGHT:]
    return data


class Client:
    """One connected tab: a queue of messages and the task that sends them."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(CLIENT_QUEUE)
        self.task: asyncio.Task[None] | None = None
        self.resync = False

    def put(self, text: str) -> bool:
        try:
            self.queue.put_nowait(text)
            return True
        except asyncio.QueueFull:
            return False

    async def pump(self) -> None:
        while True:
            text = await self.queue.get()
            if text is None:
                return
            await self.send(text)


class Hub:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.view = ClusterView()
        self.clients: set[Client] = set()
        self._pending: list[Event] = []
        self._reset = False
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._last_sent = 0.0
        self._played_count = -1
        self._lesson_done: list[bool] = []
        self._info_key = ""
        self.batches = 0
        self._unwatch: Callable[[], None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # pending "nobody watches" notice (see leave)
        self._unwatched: asyncio.Task[None] | None = None
        self.unwatched_seconds = UNWATCHED_SECONDS

    # --- life cycle -----------------------------------------------------------------

    async def start(self) -> None:
        with self._lock:
            # subscribe and read the history under one lock: no event is lost or doubled
            self._unwatch = self.source.watch(self._on_event, self._on_reset)
            self.view = ClusterView.of(self.source.events())
        self._task = asyncio.create_task(self._flush_loop())

    async def stop(self) -> None:
        if self._unwatched is not None:
            self._unwatched.cancel()
        if self._unwatch is not None:
            self._unwatch()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for client in list(self.clients):
            await self.leave(client)

    # --- from the source's threads ---------------------------------------------------

    def _on_event(self, event: Event) -> None:
        with self._lock:
            self._pending.append(event)

    def _on_reset(self) -> None:
        with self._lock:
            self._pending.clear()
            self._reset = True

    # --- tabs -----------------------------------------------------------------------

    async def join(self, send: Send) -> Client:
        client = Client(send)
        # The snapshot is taken on the loop, between two flushes: the tab's
        # first batch is the one after this snapshot.
        client.put(_dumps(self.hello()))
        self.clients.add(client)
        client.task = asyncio.create_task(client.pump())
        if self._unwatched is not None:
            self._unwatched.cancel()
            self._unwatched = None
        joined = getattr(self.source, "viewer_joined", None)
        if callable(joined):
            joined()
        return client

    async def leave(self, client: Client) -> None:
        self.clients.discard(client)
        if client.task is not None:
            client.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await client.task
        if not self.clients and self._unwatched is None:
            self._unwatched = asyncio.create_task(self._when_unwatched())

    async def _when_unwatched(self) -> None:
        """Tell the source once no tab has been open for UNWATCHED_SECONDS (a
        reload or a brief network loss reconnects well within that)."""
        try:
            await asyncio.sleep(self.unwatched_seconds)
            gone = getattr(self.source, "viewers_gone", None)
            if not self.clients and callable(gone):
                await asyncio.to_thread(gone)
        except Exception:  # a view must not take the server down
            log.exception("pausing an unwatched session failed")
        finally:
            if self._unwatched is asyncio.current_task():
                self._unwatched = None

    def hello(self) -> dict[str, Any]:
        """Everything a tab needs to draw the session from scratch."""
        history = [e for e in self.source.events()[1:] if e.get("kind") in ("status", "client", "load")]
        return {
            "type": "hello",
            "info": self.source.info(),
            "now": self.source.now(),
            "paused": self.source.paused(),
            "view": view_dict(self.view),
            "recent": list(self.view.recent),
            "history": history[-HISTORY_EVENTS:],
            "lesson": self.source.lesson(),
            "played": self.source.played(),
            "batch": self.batches,
        }

    # --- the batches ----------------------------------------------------------------

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(BATCH_SECONDS)
            try:
                self.flush()
            except Exception:  # a view must not take the server down
                log.exception("flushing a batch failed")

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
            reset, self._reset = self._reset, False
        if reset:
            self.view = ClusterView.of(self.source.events())
            self._broadcast(_dumps(self.hello()), resync_ok=False)
            return
        for event in pending:
            self.view.apply(event)
        now = self.source.now()
        self.view.advance(now)
        extra = self._changes()
        if not pending and not extra and time.monotonic() - self._last_sent < IDLE_SECONDS:
            return
        self._last_sent = time.monotonic()
        self.batches += 1
        message: dict[str, Any] = {
            "type": "update",
            "batch": self.batches,
            "now": now,
            "paused": self.source.paused(),
            "view": view_dict(self.view),
            "events": [e for e in pending if e.get("kind") not in _FOLDED_ONLY],
            **extra,
        }
        self._broadcast(_dumps(message))

    def _changes(self) -> dict[str, Any]:
        """Parts of the session that change rarely, sent only when they do."""
        out: dict[str, Any] = {}
        played = self.source.played()
        if len(played) != self._played_count:
            self._played_count = len(played)
            out["played"] = played
        lesson = self.source.lesson()
        done = [bool(s.get("done")) for s in lesson]
        if done != self._lesson_done:
            self._lesson_done = done
            out["lesson"] = lesson
        info = self.source.info()
        key = _dumps({k: info.get(k) for k in ("speed", "paused", "generation")})
        if key != self._info_key:
            self._info_key = key
            out["info"] = info
        return out

    def _broadcast(self, text: str, resync_ok: bool = True) -> None:
        hello: str | None = None
        for client in list(self.clients):
            if client.put(text):
                continue
            # This tab is behind: drop its backlog and send it the present.
            while not client.queue.empty():
                client.queue.get_nowait()
            if hello is None:
                hello = _dumps(self.hello())
            client.put(hello)

    # --- what a tab asks ------------------------------------------------------------

    async def handle(self, client: Client, text: str) -> None:
        """One message from a tab: a command, or a look at the past."""
        try:
            request = json.loads(text, parse_constant=_no_constant)
        except ValueError:
            client.put(_dumps({"type": "error", "message": "bad request: not JSON"}))
            return
        if not isinstance(request, dict):
            client.put(_dumps({"type": "error", "message": "bad request: expected a JSON object"}))
            return
        op = request.get("op")
        if op == "seek":
            await self._seek(client, request)
        elif op == "command":
            # A command may take long (a put without quorum waits for its
            # timeout): the tab can still look around meanwhile.
            task = asyncio.create_task(self._command(client, request))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            client.put(_dumps({"type": "error", "message": f"bad request: unknown op {op!r}"}))

    async def _seek(self, client: Client, request: dict[str, Any]) -> None:
        t = request.get("t")
        if isinstance(t, bool) or not isinstance(t, int | float) or not 0 <= t < math.inf:
            client.put(_dumps({"type": "error", "message": "seek: 't' must be a number of seconds >= 0"}))
            return
        events = self.source.events()
        view = await asyncio.to_thread(ClusterView.of, events, float(t))
        client.put(
            _dumps(
                {
                    "type": "snapshot",
                    "t": float(t),
                    "seq": _echo(request.get("seq")),
                    "view": view_dict(view),
                    "recent": list(view.recent)[-60:],
                }
            )
        )

    async def _command(self, client: Client, request: dict[str, Any]) -> None:
        command = request.get("command")
        rid = _echo(request.get("id"))
        try:
            future = self.source.submit(command if isinstance(command, dict) else {"action": command})
            result = await asyncio.wrap_future(future)
            reply: dict[str, Any] = {"type": "result", "id": rid, **result.as_dict()}
        except (CommandError, SessionError, BackendError, ValueError) as exc:
            action = command.get("action") if isinstance(command, dict) else None
            reply = {"type": "result", "id": rid, "ok": False, "action": action, "message": str(exc)}
        except Exception as exc:  # the page shows it; the server keeps running
            log.exception("command %r failed", command)
            reply = {"type": "result", "id": rid, "ok": False, "message": f"internal error: {exc}"}
        client.put(_dumps(reply))
