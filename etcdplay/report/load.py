"""Find and read the traces named on a command line: files, directories, globs."""

from __future__ import annotations

import glob
from collections.abc import Iterable
from pathlib import Path

from etcdplay.report.errors import ReportError
from etcdplay.trace import Trace, TraceError, read_trace

TRACE_SUFFIXES = (".jsonl", ".ndjson")


def expand(items: Iterable[str | Path]) -> list[Path]:
    """Each item as itself (a file), its ``*.jsonl`` files (a directory) or its matches (a glob)."""
    paths: list[Path] = []
    for item in items:
        text = str(item)
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in TRACE_SUFFIXES and p.is_file())
            if not found:
                raise ReportError(f"{text}: a directory with no .jsonl traces in it")
            paths.extend(found)
        elif glob.has_magic(text):
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
            found = [p for p in matches if p.is_file()]
            if not found:
                raise ReportError(f"{text}: no trace file matches this pattern")
            paths.extend(found)
        else:
            paths.append(path)
    # the same file named twice counts once
    unique: list[Path] = []
    seen: set[Path] = set()
    for p in paths:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def load(path: str | Path) -> Trace:
    """One trace; ReportError (one line) for a missing, unreadable or empty file."""
    try:
        trace = read_trace(path)
    except TraceError as exc:
        raise ReportError(str(exc)) from None
    except OSError as exc:
        raise ReportError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not trace.events:
        raise ReportError(f"{path}: the trace has a header but no events: nothing to draw")
    return trace


def load_all(items: Iterable[str | Path]) -> list[Trace]:
    return [load(p) for p in expand(items)]
