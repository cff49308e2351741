"""The Textual application: a dashboard on one ``PlaySession``.

Threads: the session tells us events from its own threads (the simulated
clock, the runner's worker, live pollers) and finishes command futures on
its worker. Neither calls into Textual: both only append to queues, which a
timer on the UI thread drains ``fps`` times a second, folding the events
into a ``ClusterView`` and redrawing what changed. So a burst of 2000
events a second costs one fold each and ten redraws, and shutting down can
never deadlock on a callback waiting for the UI.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import RichLog, Sparkline, Static

from etcdplay.files import OutputError, atomic_output
from etcdplay.play import PlaySession
from etcdplay.play.session import CommandResult
from etcdplay.play.view import ClusterView, MemberView
from etcdplay.terminal import render
from etcdplay.terminal.dialogs import AskDialog, PartitionDialog, TextScreen
from etcdplay.terminal.series import WriteSeries
from etcdplay.trace import Event

#: Keys shown in the help screen (the footer shows the same bindings).
KEYS: list[tuple[str, str, str]] = [
    # (key, action, description)
    ("question_mark", "help", "this help"),
    ("left", "select(-1)", "select the previous member (or 1-9)"),
    ("right", "select(1)", "select the next member"),
    ("k", "cluster('kill')", "kill the selected member (SIGKILL on live)"),
    ("s", "cluster('stop')", "stop it (SIGTERM: a leader hands over first)"),
    ("r", "cluster('restart')", "restart it"),
    ("i", "cluster('isolate')", "isolate it from the others"),
    ("p", "partition", "partition: choose the groups"),
    ("h", "heal", "heal every partition and delay"),
    ("w", "stress", "stress: N writes at the selected member"),
    ("u", "put", "put a key (through the selected member)"),
    ("g", "get", "get a key"),
    ("d", "delete", "delete a key"),
    ("space", "pause", "pause / resume (simulator)"),
    ("n", "step", "step to the next message, vote or role change (simulator)"),
    ("plus", "speed(2.0)", "faster (x2, simulator)"),
    ("minus", "speed(0.5)", "slower (/2, simulator)"),
    ("l", "lesson", "the lesson's prose and steps (--scenario)"),
    ("S", "save", "save the trace and a replayable scenario"),
    ("q", "quit", "quit (stops every member started)"),
]

SHORT = {
    "left": "prev",
    "right": "next",
    "k": "kill",
    "s": "stop",
    "r": "restart",
    "i": "isolate",
    "p": "partition",
    "h": "heal",
    "w": "stress",
    "u": "put",
    "g": "get",
    "d": "del",
    "space": "pause",
    "n": "step",
    "plus": "faster",
    "minus": "slower",
    "l": "lesson",
    "S": "save",
    "question_mark": "help",
    "q": "quit",
}

#: Trace kinds the dashboard draws nothing from (the simulator's message level:
#: 9 in 10 events under load). Not folding them is most of the fold's cost saved;
#: the session still records them, so a saved trace has them for the web view.
UNDRAWN = frozenset({"message", "timer"})

KEY_NAMES = {"left": "<-", "right": "->", "plus": "+", "minus": "-", "question_mark": "?"}

#: The footer: (key, word, shown when). Every key fits, wrapped between pairs.
FOOTER: list[tuple[str, str, str]] = [
    ("?", "help", "always"),
    ("<-/->", "select", "always"),
    ("k", "kill", "always"),
    ("s", "stop", "always"),
    ("r", "restart", "always"),
    ("i", "isolate", "always"),
    ("p", "partition", "always"),
    ("h", "heal", "always"),
    ("w", "stress", "always"),
    ("u", "put", "always"),
    ("g", "get", "always"),
    ("d", "del", "always"),
    ("space", "pause", "sim"),
    ("n", "step", "sim"),
    ("+/-", "speed", "sim"),
    ("l", "lesson", "lesson"),
    ("S", "save", "always"),
    ("q", "quit", "always"),
]


class MemberPanel(Static):
    """One member: role, term, leader, commit/applied, keys, hash (db size live)."""

    def __init__(self, name: str) -> None:
        super().__init__(id=f"member-{name}", classes="member")
        self.member_name = name


class TerminalApp(App[None]):
    """``etcdplay terminal``. The caller starts the session and closes it after
    ``run()`` returns (which stops every etcd member it started)."""

    TITLE = "etcdplay terminal"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    Screen { layout: vertical; }
    #top, #cluster { height: 1; }
    #result { height: auto; min-height: 1; max-height: 2; }
    #keys { height: auto; background: $panel; }
    #lesson { height: auto; max-height: 2; }
    #members, #rows { height: auto; }
    .member { width: 1fr; height: auto; border: round $secondary; padding: 0 0 0 1;
              text-wrap: nowrap; text-overflow: ellipsis; }
    .member.selected { border: double $accent; }
    .spark { height: 1; }
    .spark Static { width: 22; }
    .spark Sparkline { width: 1fr; }
    #log { height: 1fr; min-height: 3; border-top: solid $secondary; scrollbar-size-vertical: 1;
           overflow-x: hidden; }
    """
    BINDINGS = [
        *[Binding(key, action, SHORT[key], key_display=KEY_NAMES.get(key)) for key, action, _ in KEYS],
        Binding("ctrl+c", "quit", "quit", show=False, priority=True),
        *[Binding(str(i), f"select_index({i - 1})", show=False) for i in range(1, 10)],
    ]

    def __init__(self, session: PlaySession, fps: float = 10.0) -> None:
        super().__init__()
        self.session = session
        self.fps = fps
        self.names = list(session.base.cluster.names)
        self.selected = 0
        self.view = ClusterView()
        self.series = WriteSeries()
        self.live = session.live
        self._events: deque[Event] = deque()
        self._results: deque[tuple[dict[str, Any], Future[CommandResult]]] = deque()
        self._reset = False
        self._skip: set[int] = set()  # ids of events already folded from the snapshot
        self._unwatch: Any = None
        self._drawn: dict[str, Any] = {}
        self.last_result = ""
        # for the benchmark: redraws and the time they took
        self.frames = 0
        self.frame_seconds = 0.0
        self.events_folded = 0

    # --- layout -----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="top")
        yield Static(id="cluster")
        yield Static(id="lesson")
        with Horizontal(id="members"):
            for name in self.names:
                yield MemberPanel(name)
        yield Static(id="rows")  # instead of the panels when they would be too narrow
        with Horizontal(classes="spark"):
            yield Static(id="tput-label")
            yield Sparkline([], id="tput")
        with Horizontal(classes="spark"):
            yield Static(id="lat-label")
            yield Sparkline([], id="lat")
        yield Static(id="result")
        # wrapped: at 80 columns a check's detail or a save's replay command is longer
        log = RichLog(id="log", max_lines=1000, wrap=True)
        log.can_focus = False  # keys (arrows, space) are the dashboard's, not the log's
        yield log
        yield Static(id="keys")

    def on_mount(self) -> None:
        # held, not queried: with a dialog open, queries go to the dialog's screen
        self.log_widget = self.query_one("#log", RichLog)
        self.panels = {name: self.query_one(f"#member-{name}", MemberPanel) for name in self.names}
        self.statics = {w.id: w for w in self.query(Static) if w.id is not None}
        self.sparklines = {w.id: w for w in self.query(Sparkline) if w.id is not None}
        self._unwatch = self.session.watch(self._queue_event, self._queue_reset)
        self._refold()
        self.statics["lesson"].display = bool(self.session.lesson)
        self.set_interval(1 / self.fps, self.redraw)
        self.redraw()

    def on_unmount(self) -> None:
        if self._unwatch is not None:
            self._unwatch()

    # --- from the session's threads: only queue ---------------------------------------

    def _queue_event(self, event: Event) -> None:
        self._events.append(event)

    def _queue_reset(self) -> None:
        self._reset = True

    def _refold(self) -> None:
        """Start the fold again from the session's history (at start, after a branch)."""
        self._reset = False
        history = self.session.events()
        self.view = ClusterView()
        self.series = WriteSeries()
        # events told to us while we copied the history are in both: fold them once
        self._skip = {id(e) for e in history[-5000:]}
        for event in history:
            self._fold(event, log=True)

    def _fold(self, event: Event, log: bool) -> None:
        if event["kind"] in UNDRAWN:
            return
        self.view.apply(event)
        self.series.apply(event)
        self.events_folded += 1
        if log:
            line = render.event_line(event)
            if line is not None:
                self.log_widget.write(line)

    # --- drawing ------------------------------------------------------------------------

    def redraw(self) -> None:
        started = time.perf_counter()
        if self._reset:
            self.log_widget.clear()
            self._refold()
        self._drain_events()
        self._drain_results()
        self._draw()
        self.frames += 1
        self.frame_seconds += time.perf_counter() - started

    def _drain_events(self) -> None:
        events = self._events
        lines: list[Text] = []
        skip = self._skip
        while events:
            event = events.popleft()
            if event["kind"] in UNDRAWN or (skip and id(event) in skip):
                continue
            self.view.apply(event)
            self.series.apply(event)
            self.events_folded += 1
            line = render.event_line(event)
            if line is not None:
                lines.append(line)
        if not events and skip and self.events_folded:
            self._skip = set()  # the snapshot's overlap is past
        log = self.log_widget
        for line in lines[-200:]:  # a burst scrolls past anyway
            log.write(line)

    def _drain_results(self) -> None:
        while self._results:
            command, future = self._results.popleft()
            try:
                result = future.result()
                text = Text(result.message, style="" if result.ok else "bold red")
            except Exception as exc:  # a refused command: say why, keep playing
                action, why = str(command.get("action")), str(exc)
                # the session's messages mostly name the action already ("stress: 'count' ...")
                said = why if why.startswith(f"{action}:") else f"{action}: {why}"
                text = Text(said, style="bold red")
            self._say(text)

    def _say(self, text: Text) -> None:
        self.last_result = text.plain
        self.statics["result"].update(text)
        line = Text("      >> ", style="dim")
        line.append_text(text)
        self.log_widget.write(line)

    def _update(self, key: str, widget_id: str, value: Any, wraps: bool = False) -> None:
        """Redraw a widget only when what it shows changed. ``wraps``: its lines
        wrap at the screen's width, so its height may change with any text."""
        before = self._drawn.get(key)
        if before != value:
            self._drawn[key] = value
            # a new layout (the costly part of a redraw) only when the height may change
            lines = value.plain.count("\n") if isinstance(value, Text) else None
            relayout = wraps or before is None or lines is None or before.plain.count("\n") != lines
            self.statics[widget_id].update(value, layout=relayout)

    def _draw(self) -> None:
        view = self.view
        info = self.session.info()
        self._update(
            "top",
            "top",
            render.status_line(
                info.backend,
                info.seed,
                max(view.t, self.session.now()),
                info.speed,
                info.paused,
                view.writes_ok,
                view.writes_failed,
            ),
        )
        self._update("cluster", "cluster", render.cluster_line(view))
        if self.session.lesson:
            self._update("lesson", "lesson", render.lesson_line(self.session.lesson_steps()), wraps=True)
        self._update("keys", "keys", render.keys_line(self.footer_keys(), self.size.width))
        groups = render.group_labels(view)
        rows = render.compact(len(self.names), self.size.width)
        if self._drawn.get("compact") != rows:
            self._drawn["compact"] = rows
            self.query_one("#members").display = not rows
            self.statics["rows"].display = rows
        if rows:
            members = [view.nodes.get(name) or MemberView(name) for name in self.names]
            shown = render.member_rows(members, self.selected, groups, set(view.delayed), self.size.width)
            self._update("rows", "rows", shown)
            return self._draw_sparklines()
        for i, name in enumerate(self.names):
            member = view.nodes.get(name)
            if member is None:
                continue
            panel = self.panels[name]
            title = render.member_title(member, i == self.selected, groups.get(name))
            if panel.border_title != title:
                panel.border_title = title
                panel.set_class(i == self.selected, "selected")
            self._update(
                f"m:{name}", f"member-{name}", render.member_body(member, self.live, view.delayed.get(name))
            )
        self._draw_sparklines()

    def _draw_sparklines(self) -> None:
        tput, lat = self.series.throughput(), self.series.latency_ms()
        if self._drawn.get("spark") != (tput, lat):
            self._drawn["spark"] = (tput, lat)
            self.sparklines["tput"].data = tput
            self.sparklines["lat"].data = lat
            rate, latency = self.series.last_complete()
            self._update("tput-label", "tput-label", render.spark_label("writes/s", rate, ""))
            self._update("lat-label", "lat-label", render.spark_label("latency", latency, "ms"))

    def footer_keys(self) -> list[tuple[str, str]]:
        """The footer's keys: simulator controls only on the simulator, ``l`` with a lesson."""
        shown = {"always", "lesson" if self.session.lesson else "", "" if self.live else "sim"}
        return [(key, word) for key, word, when in FOOTER if when in shown]

    # --- commands ---------------------------------------------------------------------

    @property
    def selected_name(self) -> str:
        return self.names[self.selected]

    def send(self, command: dict[str, Any]) -> Future[CommandResult]:
        """Give the session a command; its result is shown when it is done."""
        future = self.session.submit(command)
        future.add_done_callback(lambda f: self._results.append((command, f)))
        return future

    def action_select(self, delta: int) -> None:
        self.selected = (self.selected + delta) % len(self.names)
        self._draw()

    def action_select_index(self, index: int) -> None:
        if index < len(self.names):
            self.selected = index
            self._draw()

    def action_cluster(self, action: str) -> None:
        self.send({"action": action, "node": self.selected_name})

    def action_heal(self) -> None:
        self.send({"action": "heal"})

    def action_partition(self) -> None:
        def chosen(groups: list[list[str]] | None) -> None:
            if groups:
                self.send({"action": "partition", "groups": groups})

        self.push_screen(PartitionDialog(self.names, [self.selected_name]), chosen)

    def action_stress(self) -> None:
        node = self.selected_name

        def chosen(values: list[str] | None) -> None:
            if values is None:
                return
            try:
                count, rate = int(values[0]), float(values[1] or 100)
            except ValueError:
                self._say(
                    Text("stress: the count must be a whole number, the rate a number", style="bold red")
                )
                return
            self.send({"action": "stress", "count": count, "rate": rate, "node": node})

        self.push_screen(
            AskDialog(
                f"Stress: writes at {node}", [("how many writes", "100"), ("writes per second", "100")]
            ),
            chosen,
        )

    def action_put(self) -> None:
        node = self.selected_name

        def chosen(values: list[str] | None) -> None:
            if values is not None:
                self._last_key = values[0]
                self.send({"action": "put", "key": values[0], "value": values[1], "node": node})

        self.push_screen(
            AskDialog(f"Put, through {node}", [("key", self._key_default()), ("value", "")]), chosen
        )

    def _key_default(self) -> str:
        return getattr(self, "_last_key", "greeting")

    def _ask_key(self, action: str) -> None:
        node = self.selected_name

        def chosen(values: list[str] | None) -> None:
            if values is not None:
                self._last_key = values[0]
                self.send({"action": action, "key": values[0], "node": node})

        self.push_screen(
            AskDialog(f"{action.capitalize()}, through {node}", [("key", self._key_default())]), chosen
        )

    def action_get(self) -> None:
        self._ask_key("get")

    def action_delete(self) -> None:
        self._ask_key("delete")

    def action_pause(self) -> None:
        self.send({"action": "resume" if self.session.info().paused else "pause"})

    def action_step(self) -> None:
        self.send({"action": "step"})

    def action_speed(self, factor: float) -> None:
        self.send({"action": "speed", "speed": round(self.session.speed * factor, 6)})

    def action_lesson(self) -> None:
        if not self.session.lesson:
            self._say(
                Text("no lesson: start with --scenario NAME (see 'etcdplay scenarios')", style="yellow")
            )
            return
        base = self.session.base
        self.push_screen(TextScreen(render.lesson_text(base.name, base.explain, self.session.lesson_steps())))

    def action_help(self) -> None:
        keys = [(KEY_NAMES.get(key, key), what) for key, _, what in KEYS]
        self.push_screen(TextScreen(render.help_text(keys), id="help"))

    def action_save(self) -> None:
        default = f"played-{self.session.base.name}-{self.session.seed}"

        def chosen(values: list[str] | None) -> None:
            if values is None:
                return
            name = values[0].strip()
            if not name:
                self._say(
                    Text("save: give a file name (NAME.toml and NAME.jsonl are written)", style="bold red")
                )
            elif Path(name).is_dir() or name.endswith("/"):
                self._say(Text(f"save: {name} is a directory; give a file name in it", style="bold red"))
            else:
                self.save(Path(name))

        self.push_screen(
            AskDialog(
                "Save the trace and the played scenario",
                [("file name (no extension)", default)],
                hint="writes NAME.toml and NAME.jsonl",
            ),
            chosen,
        )

    def save(self, stem: Path) -> tuple[Path, Path] | None:
        """Write ``stem.toml`` (replay: ``etcdplay simulate stem.toml --seed S``) and ``stem.jsonl``."""
        toml_path, trace_path = stem.with_name(stem.name + ".toml"), stem.with_name(stem.name + ".jsonl")
        try:
            with atomic_output(toml_path, "save") as handle:
                handle.write(self.session.scenario_toml())
            with atomic_output(trace_path, "save") as handle:
                handle.write(self.session.trace_jsonl())
        except OutputError as exc:  # its message starts "save PATH: ..."
            self._say(Text(str(exc), style="bold red"))
            return None
        except OSError as exc:
            self._say(Text(f"save: {exc}", style="bold red"))
            return None
        replay = (
            f"etcdplay live {toml_path}"
            if self.live
            else f"etcdplay simulate {toml_path} --seed {self.session.seed}"
        )
        self._say(Text(f"saved {toml_path} and {trace_path}; replay: {replay}", style="green"))
        return toml_path, trace_path
