"""The headline numbers of ``etcdplay compare`` on the terminal, beside the page.

``compare`` used to write its page and print nothing: the table a person
wants first (one run against one: each measure and the difference; several:
medians and their difference) is printed too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from etcdplay.report.compare import Side, default_labels, distribution_rows, headline_rows
from etcdplay.report.page import fmt
from etcdplay.trace import Trace


def print_headlines(
    a: Sequence[Trace],
    b: Sequence[Trace],
    label_a: str | None = None,
    label_b: str | None = None,
    console: Console | None = None,
) -> None:
    console = console or Console()
    da, db = default_labels(a, b)
    side_a, side_b = Side(label_a or da, list(a)), Side(label_b or db, list(b))
    if side_a.label == side_b.label:
        side_b.label += " (B)"
    if len(a) == 1 and len(b) == 1:
        table = Table(title="Headline numbers", title_justify="left")
        for col in ("measure", side_a.label, side_b.label, f"{side_b.label} - {side_a.label}"):
            table.add_column(col, justify="left" if col == "measure" else "right")
        rows: list[list[Any]] = headline_rows(side_a.headlines[0], side_b.headlines[0])
    else:
        table = Table(title="Medians over the runs", title_justify="left")
        for col in (
            "measure",
            f"{side_a.label} (n)",
            "median",
            f"{side_b.label} (n)",
            "median",
            "difference",
        ):
            table.add_column(col, justify="left" if col == "measure" else "right")
        rows = [[r[0], r[1], r[2], r[5], r[6], r[9]] for r in distribution_rows(side_a, side_b)]
    for row in rows:
        table.add_row(*(fmt(cell) for cell in row))
    console.print(table)
