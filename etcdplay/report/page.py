"""Assemble self-contained HTML pages: one copy of plotly.js, inline CSS, tables.

Nothing on a page is loaded from the network: plotly.js comes from the
installed plotly package and is embedded once per file, before the figures.
Every string taken from a trace is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1400px; padding: 0 1.2rem 3rem; color: #1d2630; }
header { border-bottom: 1px solid #d5dbe1; margin-bottom: 1rem; }
h1 { font-size: 1.5rem; margin: 1rem 0 0.3rem; }
h2 { font-size: 1.15rem; margin: 1.6rem 0 0.4rem; }
.meta { color: #4a5866; margin: 0.2rem 0 0.8rem; }
.meta span { margin-right: 1.3rem; }
.badge { display: inline-block; padding: 0.1rem 0.55rem; border-radius: 0.8rem;
         font-weight: 600; font-size: 0.85rem; }
.pass { background: #dff3e4; color: #1d6b34; }
.fail { background: #fbe0e3; color: #9b1c2c; }
.warn { background: #fff4d6; color: #7a5a00; border: 1px solid #f2c14e;
        padding: 0.6rem 0.9rem; border-radius: 0.4rem; margin: 0.8rem 0; }
table { border-collapse: collapse; margin: 0.3rem 0 0.8rem; font-size: 0.9rem; }
th, td { border: 1px solid #d5dbe1; padding: 0.25rem 0.6rem; text-align: left; }
th { background: #f1f4f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.failed td { background: #fbe0e3; }
tr.better td.diff { color: #1d6b34; }
.figure { margin: 0.4rem 0 1rem; }
p.help { color: #4a5866; font-size: 0.88rem; margin: 0.1rem 0 0.4rem; max-width: 70rem; }
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def fmt(value: Any, digits: int = 3) -> str:
    """Numbers for tables: seconds with ``digits`` decimals, a dash for unknown."""
    if value is None:
        return "\u2013"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    table_id: str,
    numeric: Iterable[int] = (),
    row_classes: Sequence[str] | None = None,
) -> str:
    """An HTML table; cells are escaped, ``numeric`` column indexes right-aligned."""
    numeric_set = set(numeric)
    out = [f'<table id="{esc(table_id)}"><thead><tr>']
    out += [f"<th>{esc(h)}</th>" for h in headers]
    out.append("</tr></thead><tbody>")
    for i, row in enumerate(rows):
        cls = row_classes[i] if row_classes and i < len(row_classes) else ""
        out.append(f'<tr class="{esc(cls)}">' if cls else "<tr>")
        for j, cell in enumerate(row):
            td = '<td class="num">' if j in numeric_set else "<td>"
            out.append(f"{td}{esc(fmt(cell))}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def figure_div(fig: go.Figure, div_id: str) -> str:
    body = fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        include_mathjax=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True},
    )
    return f'<div class="figure">{body}</div>'


def document(title: str, body: Sequence[str]) -> str:
    """A complete page with plotly.js embedded once in the head."""
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            f"<title>{esc(title)}</title>",
            # an empty icon: no favicon request
            '<link rel="icon" href="data:,">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<style>{CSS}</style>",
            '<script type="text/javascript">',
            get_plotlyjs(),
            "</script></head><body>\n",
            *body,
            "\n</body></html>\n",
        ]
    )
