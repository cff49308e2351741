"""Input screens: partition groups, a number, a key (and value), a file name;
and the help and lesson screens. Each dismisses with what was chosen, or
``None`` when cancelled (Esc)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, SelectionList, Static

DIALOG_CSS = """
.dialog { width: 60; max-width: 100%; height: auto; max-height: 100%; border: round $accent;
          background: $surface; padding: 0 1; }
.dialog Label { width: 100%; }
.dialog .hint { color: $text-muted; }
"""


class PartitionDialog(ModalScreen[list[list[str]] | None]):
    """Choose one side of a partition: the ticked members against the rest
    (type groups instead, ``n1 n2 | n3 | n4 n5``, for more than two)."""

    DEFAULT_CSS = DIALOG_CSS + "PartitionDialog { align: center middle; } SelectionList { height: auto; }"
    BINDINGS = [
        Binding("escape", "cancel", "cancel"),
        Binding("ctrl+s", "apply", "partition", priority=True),
    ]

    def __init__(self, members: Sequence[str], ticked: Sequence[str] = ()) -> None:
        super().__init__()
        self.members = list(members)
        self.ticked = set(ticked)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Partition: tick one side (space), Enter or Ctrl-S to cut")
            yield SelectionList[str](*[(m, m, m in self.ticked) for m in self.members], id="side")
            yield Label("or type the groups, e.g. n1 n2 | n3:", classes="hint")
            yield Input(placeholder="n1 n2 | n3", id="groups")

    def on_mount(self) -> None:
        self.query_one("#side", SelectionList).focus()

    def on_key(self, event: Any) -> None:
        # Enter toggles in a SelectionList by default; here it applies, as in every dialog
        if event.key == "enter" and isinstance(self.focused, SelectionList):
            event.stop()
            event.prevent_default()
            self.action_apply()

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self.action_apply()

    def action_apply(self) -> None:
        typed = self.query_one("#groups", Input).value.strip()
        if typed:
            groups = [g for g in (part.replace(",", " ").split() for part in typed.split("|")) if g]
            if len(groups) < 2:
                self.notify("type two groups or more, split by |, e.g. n1 n2 | n3", severity="warning")
                return
            self.dismiss(groups)
            return
        side = list(self.query_one("#side", SelectionList).selected)
        rest = [m for m in self.members if m not in side]
        if not side or not rest:
            self.notify("tick some members but not all (or type the groups)", severity="warning")
            return
        self.dismiss([side, rest])

    def action_cancel(self) -> None:
        self.dismiss(None)


class AskDialog(ModalScreen[list[str] | None]):
    """One or more text fields; Enter moves to the next and submits on the last."""

    DEFAULT_CSS = DIALOG_CSS + "AskDialog { align: center middle; }"
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, title: str, fields: Sequence[tuple[str, str]], hint: str = "") -> None:
        """``fields``: (label, initial value) pairs."""
        super().__init__()
        self.title_text = title
        self.fields = list(fields)
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text)
            for i, (label, value) in enumerate(self.fields):
                yield Label(label, classes="hint")
                yield Input(value=value, id=f"field{i}")
            if self.hint:
                yield Label(self.hint, classes="hint")

    def on_mount(self) -> None:
        self.query_one("#field0", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        inputs = list(self.query(Input))
        index = inputs.index(event.input)
        if index + 1 < len(inputs):
            inputs[index + 1].focus()
            return
        self.dismiss([i.value for i in inputs])

    def action_cancel(self) -> None:
        self.dismiss(None)


class TextScreen(ModalScreen[None]):
    """A page of text (help, the lesson) that Esc, q or ? closes."""

    DEFAULT_CSS = DIALOG_CSS + "TextScreen { align: center middle; } TextScreen .dialog { width: 76; }"
    BINDINGS = [
        Binding("escape", "close", "close"),
        Binding("q", "close", "close", show=False),
        Binding("question_mark", "close", "close", show=False),
    ]

    def __init__(self, text: Text, id: str | None = None) -> None:
        super().__init__(id=id)
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog"):
            yield Static(self.text, id="page")

    def action_close(self) -> None:
        self.dismiss(None)
