"""The ``etcdplay report`` and ``etcdplay compare`` commands (registered in cli.py).

Both raise :class:`ReportError` (or :class:`~etcdplay.trace.TraceError`) with
a one-line message on bad input; the command line prints it and exits 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from etcdplay.report.compare import write_compare
from etcdplay.report.compare_table import print_headlines
from etcdplay.report.errors import ReportError
from etcdplay.report.formats import report_format
from etcdplay.report.html import write_report
from etcdplay.report.load import load, load_all


def report(
    trace: Annotated[Path, typer.Argument(help="a trace (JSON Lines) from simulate or live")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="output file: .html (default) or .png (needs Chromium)"),
    ] = None,
) -> Path:
    """Draw one run: timeline of roles and faults, terms, commit progress, keys and
    hashes, client latency and unavailability, elections and checks."""
    target = out if out is not None else trace.with_suffix(".html")
    if target.resolve() == trace.resolve():
        raise ReportError(f"{target}: the output would overwrite the trace; choose another -o")
    report_format(target)  # refuse -o x.pdf before reading anything
    written = write_report(load(trace), target)
    _wrote(written)
    return written


def compare(
    traces: Annotated[
        list[str] | None,
        typer.Argument(help="A B: two traces, directories of traces or quoted globs; the first is side A"),
    ] = None,
    a: Annotated[
        list[str] | None,
        typer.Option("--a", "-a", help="a trace, directory or glob for side A (repeatable)"),
    ] = None,
    b: Annotated[
        list[str] | None,
        typer.Option("--b", "-b", help="a trace, directory or glob for side B (repeatable)"),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="output file: .html (default) or .png")] = Path(
        "compare.html"
    ),
    label_a: Annotated[str | None, typer.Option(help="name of side A (default: its backend)")] = None,
    label_b: Annotated[str | None, typer.Option(help="name of side B (default: its backend)")] = None,
) -> Path:
    """Compare runs: `compare sim.jsonl live.jsonl`, or many per side
    (`compare runs/sim/ runs/live/`, `compare --a 'sim-*.jsonl' --b live1.jsonl --b live2.jsonl`),
    which are shown as distributions (CDFs)."""
    side_a = list(a or [])
    side_b = list(b or [])
    positional = list(traces or [])
    if positional:
        if side_a or side_b:
            raise ReportError("give two sides either as A B or as --a ... --b ..., not both")
        if len(positional) != 2:
            raise ReportError(
                f"compare takes two sides (A B), got {len(positional)}; for several runs per "
                "side use directories, quoted globs, or --a X --a Y --b Z"
            )
        side_a, side_b = [positional[0]], [positional[1]]
    if not side_a or not side_b:
        raise ReportError("compare needs a side A and a side B: compare A B, or --a ... --b ...")
    runs_a, runs_b = load_all(side_a), load_all(side_b)
    for run in [*runs_a, *runs_b]:
        if run.source and Path(run.source).resolve() == out.resolve():
            raise ReportError(f"{out}: the output would overwrite the trace {run.source}; choose another -o")
    report_format(out)
    written = write_compare(runs_a, runs_b, out, label_a=label_a, label_b=label_b)
    print_headlines(runs_a, runs_b, label_a, label_b)
    _wrote(written)
    return written


def _wrote(path: Path) -> None:
    typer.echo(f"wrote {path}", err=True)
