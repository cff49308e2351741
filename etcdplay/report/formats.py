"""Which format an output file gets, from its suffix, or a refusal.

A report named ``run.pdf`` must not silently be HTML, and a trace named
``run.html`` must not silently be JSON Lines: the suffix decides, and a
suffix nothing here writes is refused before any work is done.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from etcdplay.report.errors import ReportError

ReportFormat = Literal["html", "png"]

REPORT_SUFFIXES: dict[str, ReportFormat] = {".html": "html", ".htm": "html", ".png": "png"}

#: Suffixes of pictures and documents: a trace (JSON Lines) never goes there.
NOT_A_TRACE = frozenset({".html", ".htm", ".png", ".pdf", ".svg", ".jpg", ".jpeg", ".webp", ".toml"})


class FormatError(ReportError):
    """An output name whose suffix names a format that is not written there."""


def report_format(path: Path, option: str = "-o") -> ReportFormat:
    """'html' or 'png' from ``path``'s suffix; FormatError for anything else."""
    fmt = REPORT_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        shown = f"'{path.suffix}'" if path.suffix else "no suffix"
        raise FormatError(
            f"{option} {path}: reports are written as .html or .png, not {shown}; "
            f"e.g. {option} {path.with_suffix('.html')}"
        )
    return fmt


def check_trace_name(path: Path, option: str = "--out") -> None:
    """Refuse a trace output named like a report or a picture."""
    if path.suffix.lower() in NOT_A_TRACE:
        raise FormatError(
            f"{option} {path}: {option} writes the trace as JSON Lines, not '{path.suffix}'; "
            f"name it {path.with_suffix('.jsonl')}, and use --report FILE.html for a report"
        )
