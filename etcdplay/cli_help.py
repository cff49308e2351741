"""Help-page polish for typer: flags show no value type.

typer 0.2x prints ``<bool>`` beside every on/off flag (``--quiet <bool>``),
which reads as if the flag took a value. A flag takes none, so its type
column is left empty.
"""

from __future__ import annotations

from typing import Any

import click
from typer import core


def hide_flag_types() -> None:
    option = getattr(core, "TyperOption", None)
    original = getattr(option, "display_type_rich", None)
    if option is None or original is None or getattr(original, "_etcdplay", False):
        return

    def display_type_rich(self: Any, ctx: click.Context) -> str | None:
        if getattr(self, "is_flag", False) and self.metavar is None:
            return None
        result: str | None = original(self, ctx)
        return result

    display_type_rich._etcdplay = True  # type: ignore[attr-defined]
    option.display_type_rich = display_type_rich
