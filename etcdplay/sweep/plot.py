"""Plotly figures of sweep results, written as self-contained offline HTML.

Failover downtime is drawn as in Ongaro's dissertation (chapter on leader
election): on top the cumulative distribution of downtime; below the same
distribution's tail, the fraction of trials slower than x on a reversed log
axis, labelled as cumulative percentages (90%, 99%, 99.9%, ...), so rare slow
elections are as visible as the median.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from etcdplay.files import OutputError, write_text_atomic
from etcdplay.sweep.errors import SweepError
from etcdplay.sweep.output import SCENARIO_METRICS

#: A CDF is drawn from at most this many points (all of the tail is kept).
MAX_POINTS = 20000


def cdf_points(values: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted values x, CDF F(x) = fraction <= x, and the tail fraction >= x."""
    x = np.sort(np.asarray(values, dtype=float))
    n = x.size
    ranks = np.arange(1, n + 1, dtype=float)
    cdf = ranks / n
    tail = (n - ranks + 1) / n
    if n > MAX_POINTS:
        keep = np.unique(
            np.concatenate(
                [np.linspace(0, n - 1, MAX_POINTS // 2).astype(int), np.arange(n - MAX_POINTS // 2, n)]
            )
        )
        x, cdf, tail = x[keep], cdf[keep], tail[keep]
    return x, cdf, tail


def failover_figure(
    series: Sequence[tuple[str, Sequence[float] | np.ndarray]],
    title: str = "Leader failover: downtime",
    dashed: Sequence[bool] | None = None,
) -> go.Figure:
    """CDF of downtime per configuration (top) and its tail on a log axis (bottom)."""
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        row_heights=[0.55, 0.45],
        subplot_titles=("cumulative percent of trials", "tail: cumulative percent, log scale"),
    )
    palette = [
        "#1f77b4",
        "#d62728",
        "#2ca02c",
        "#9467bd",
        "#ff7f0e",
        "#8c564b",
        "#e377c2",
        "#17becf",
        "#bcbd22",
        "#7f7f7f",
    ]
    smallest_tail = 1.0
    for i, (label, values) in enumerate(series):
        if len(values) == 0:
            continue
        x, cdf, tail = cdf_points(values)
        smallest_tail = min(smallest_tail, float(tail[-1]))
        line = {"color": palette[i % len(palette)], "shape": "hv", "width": 2}
        if dashed and dashed[i]:
            line["dash"] = "dash"
        common = {"mode": "lines", "name": label, "legendgroup": label, "line": line}
        fig.add_trace(
            go.Scatter(
                x=x, y=cdf * 100, hovertemplate="%{x:.1f} ms: %{y:.2f}%<extra>" + label + "</extra>", **common
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=tail,
                showlegend=False,
                customdata=(1 - tail) * 100,
                hovertemplate="%{x:.1f} ms: %{customdata:.3f}%<extra>" + label + "</extra>",
                **common,
            ),
            row=2,
            col=1,
        )
    decades = max(1, math.ceil(-math.log10(smallest_tail)))
    tickvals = [10.0**-k for k in range(decades + 1)]
    ticktext = [_cumulative_label(v) for v in tickvals]
    fig.update_yaxes(title_text="cumulative %", range=[0, 100], ticksuffix="%", row=1, col=1)
    fig.update_yaxes(
        title_text="cumulative % (log)",
        type="log",
        autorange="reversed",
        tickvals=tickvals,
        ticktext=ticktext,
        row=2,
        col=1,
    )
    fig.update_xaxes(title_text="downtime (ms)", row=2, col=1)
    fig.update_layout(title=title, template="plotly_white", height=800, hovermode="closest")
    return fig


def _cumulative_label(tail: float) -> str:
    """10**-k of trials slower -> the cumulative percentage 100 * (1 - 10**-k)."""
    if tail >= 1.0:
        return "0%"
    return f"{100 * (1 - tail):.{max(0, round(-math.log10(tail)) - 2)}f}%"


def scenario_figure(
    points: Sequence[tuple[str, Mapping[str, Sequence[float]]]],
    title: str,
    swept: str,
) -> go.Figure:
    """Each metric against the grid point: a box (median, quartiles, mean) per point
    shows the spread across seeds."""
    metrics = [(key, heading.replace("\n", " ")) for key, heading, _ in SCENARIO_METRICS]
    cols = 2
    rows = -(-len(metrics) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[h for _, h in metrics], vertical_spacing=0.08)
    for m, (key, heading) in enumerate(metrics):
        row, col = m // cols + 1, m % cols + 1
        xs: list[str] = []
        ys: list[float] = []
        for label, values in points:
            data = values.get(key, [])
            xs.extend([label] * len(data))
            ys.extend(data)
        fig.add_trace(
            go.Box(
                x=xs,
                y=ys,
                name=heading,
                boxmean=True,
                boxpoints="outliers",
                showlegend=False,
                marker={"size": 3},
            ),
            row=row,
            col=col,
        )
        fig.update_xaxes(title_text=swept, type="category", row=row, col=col)
    fig.update_layout(title=title, template="plotly_white", height=320 * rows)
    return fig


def write_html(fig: go.Figure, path: str | Path) -> None:
    """A single HTML file that works offline (plotly.js embedded)."""
    text = fig.to_html(include_plotlyjs=True, full_html=True)
    try:
        write_text_atomic(Path(path), text, "--plot")
    except OutputError as exc:
        raise SweepError(str(exc)) from None


def documents_series(documents: Sequence[tuple[str, dict[str, Any]]]) -> list[tuple[str, list[float]]]:
    """(source: label, downtimes) for every configuration of several sweep files."""
    out = []
    for source, doc in documents:
        for config in doc["configurations"]:
            values = [s["downtime_ms"] for s in config["samples"] if s.get("downtime_ms") is not None]
            out.append((f"{source}: {config['label']}", values))
    return out
