"""Compare runs: one against one on shared axes, or many against many as distributions.

Side A and side B are typically the simulator and a live cluster running the
same scenario. With one trace per side the page puts both runs on shared time
axes and tabulates the headline numbers with their differences (B - A). With
several traces on either side (seeds, live trials) single numbers mean little,
so the page shows empirical CDFs of the same measures instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from etcdplay import metrics
from etcdplay.report import figures
from etcdplay.report.downsample import thin
from etcdplay.report.errors import ReportError
from etcdplay.report.formats import report_format
from etcdplay.report.html import write_output
from etcdplay.report.page import document, esc, figure_div, fmt, table
from etcdplay.trace import Trace

SIDE_COLORS = ("#2a6f97", "#e07a1f")


@dataclass
class Side:
    """The runs on one side of a comparison."""

    label: str
    traces: list[Trace]

    @property
    def headlines(self) -> list[metrics.Headline]:
        return [metrics.headline(t) for t in self.traces]


def default_labels(a: Sequence[Trace], b: Sequence[Trace]) -> tuple[str, str]:
    """``sim`` / ``live`` when each side has one backend and they differ; else A / B."""
    backends_a = {t.backend for t in a}
    backends_b = {t.backend for t in b}
    if len(backends_a) == 1 and len(backends_b) == 1 and backends_a != backends_b:
        return next(iter(backends_a)), next(iter(backends_b))
    if len(a) == 1 and len(b) == 1:
        return f"A: {Path(a[0].source).name}", f"B: {Path(b[0].source).name}"
    return "A", "B"


def notes(a: Side, b: Side) -> list[str]:
    """What a reader must know to read the numbers alike (not a mismatch)."""
    out = [
        "Election time: from the fault until a new leader takes the role. Downtime: until "
        "every member that is up has learned that leader."
    ]
    backends = {t.backend for t in [*a.traces, *b.traces]}
    if "live" in backends and len(backends) > 1:
        out.append(
            "Time to first leader: on the live side it includes etcd's process start-up "
            "(from the scenario's start until the members run and elect); simulated members "
            "start at once. Failover times are measured from the fault on both sides."
        )
    return out


def warnings(a: Side, b: Side) -> list[str]:
    """What makes the comparison less than like-for-like."""
    out = []
    names_a = sorted({t.scenario_name for t in a.traces})
    names_b = sorted({t.scenario_name for t in b.traces})
    if names_a != names_b or len(names_a) > 1:
        out.append(
            f"Different scenarios: {a.label} ran {', '.join(names_a)}; {b.label} ran "
            f"{', '.join(names_b)}. Only measures both have are compared; failovers are "
            "matched by their order."
        )
    sizes = {len(metrics.node_names(t)) for t in [*a.traces, *b.traces]}
    if len(sizes) > 1:
        out.append(f"Different cluster sizes: {', '.join(str(s) for s in sorted(sizes))} nodes.")
    return out


# --- one against one -------------------------------------------------------------


def _diff(x: Any, y: Any) -> Any:
    if isinstance(x, bool) or isinstance(y, bool):
        return "same" if x == y else "differ"
    if isinstance(x, int | float) and isinstance(y, int | float):
        d = y - x
        return round(d, 6) if isinstance(d, float) else d
    return None


def headline_rows(ha: metrics.Headline, hb: metrics.Headline) -> list[list[Any]]:
    """measure, A, B, B - A: the table of a one-to-one comparison."""
    rows: list[list[Any]] = [
        ["time to first leader (s)", ha.time_to_first_leader, hb.time_to_first_leader],
    ]
    for i in range(max(len(ha.failovers), len(hb.failovers))):
        fa = ha.failovers[i] if i < len(ha.failovers) else None
        fb = hb.failovers[i] if i < len(hb.failovers) else None
        # failovers are paired by order: when the causes differ (a crash of n2
        # beside a crash of n1) the row names both, rather than one for both
        causes = [f.cause for f in (fa, fb) if f is not None]
        cause = causes[0] if len(set(causes)) == 1 else " / ".join(causes) or "?"
        rows.append([f"failover #{i + 1} election time (s): {cause}", _elected(fa), _elected(fb)])
        rows.append([f"failover #{i + 1} downtime (s): {cause}", _downtime(fa), _downtime(fb)])
    rows += [
        ["leader changes", ha.leader_changes, hb.leader_changes],
        ["highest term", ha.max_term, hb.max_term],
        ["time without a writable leader (s)", ha.unavailable, hb.unavailable],
        ["failed writes", ha.failed_writes, hb.failed_writes],
        ["write latency p50 (ms)", _ms(ha.write_latency_p50), _ms(hb.write_latency_p50)],
    ]
    for node in sorted(set(ha.final_keys) | set(hb.final_keys), key=_natural):
        rows.append([f"final keys {node}", ha.final_keys.get(node), hb.final_keys.get(node)])
    rows.append(["hashes converged", ha.hashes_converged, hb.hashes_converged])
    rows.append(
        ["checks failed", ", ".join(ha.checks_failed) or "none", ", ".join(hb.checks_failed) or "none"]
    )
    return [[m, x, y, _diff(x, y)] for m, x, y in rows]


def _downtime(e: metrics.Election | None) -> Any:
    if e is None:
        return None
    if e.outcome == "unresolved":
        return "no leader"
    return e.downtime


def _elected(e: metrics.Election | None) -> Any:
    if e is None:
        return None
    if e.outcome == "unresolved":
        return "no leader"
    return e.election_time


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1000.0, 3)


def sorted_seeds(traces: Sequence[Trace]) -> list[object]:
    """Seeds in numeric order (1, 2, 10), not file-name order (1, 10, 2)."""
    seeds = [t.seed for t in traces]
    return sorted(seeds, key=lambda s: (0, s, "") if isinstance(s, int) else (1, 0, str(s)))


def _natural(name: str) -> tuple[int, str]:
    digits = name.lstrip("n")
    return (int(digits), name) if digits.isdigit() else (1 << 30, name)


def timelines(a: Side, b: Side) -> go.Figure:
    """Both runs' role timelines, one above the other, on one time axis."""
    ta, tb = a.traces[0], b.traces[0]
    rows_a, rows_b = figures.timeline_rows(ta), figures.timeline_rows(tb)
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        row_heights=[len(rows_a), len(rows_b)],
        subplot_titles=[a.label, b.label],
    )
    for tr in figures.timeline_traces(ta):
        fig.add_trace(tr, row=1, col=1)
    for tr in figures.timeline_traces(tb, showlegend=False):
        fig.add_trace(tr, row=2, col=1)
    fig.update_layout(barmode="overlay")
    fig.update_yaxes(categoryorder="array", categoryarray=list(reversed(rows_a)), row=1, col=1)
    fig.update_yaxes(categoryorder="array", categoryarray=list(reversed(rows_b)), row=2, col=1)
    end = max(metrics.end_time(ta), metrics.end_time(tb))
    figures._base_layout(fig, "Timelines", end, 220 + 40 * (len(rows_a) + len(rows_b)))
    fig.update_xaxes(title_text="", row=1, col=1)
    return fig


def election_bars(a: Side, b: Side) -> go.Figure:
    """Election time after each disruptive fault, A and B side by side (matched by order)."""
    ha, hb = a.headlines[0], b.headlines[0]
    n = max(len(ha.failovers), len(hb.failovers))
    labels = []
    for i in range(n):
        e = ha.failovers[i] if i < len(ha.failovers) else hb.failovers[i]
        labels.append(f"#{i + 1} {e.cause}")
    fig = go.Figure()
    for side, h, color in ((a, ha, SIDE_COLORS[0]), (b, hb, SIDE_COLORS[1])):
        values = [(h.failovers[i].election_time if i < len(h.failovers) else None) for i in range(n)]
        texts = [
            (
                f"{h.failovers[i].outcome}: {h.failovers[i].new_leader or 'no leader'}"
                if i < len(h.failovers)
                else "no such fault"
            )
            for i in range(n)
        ]
        fig.add_trace(
            go.Bar(
                x=labels,
                y=[np.nan if v is None else v for v in values],
                name=side.label,
                marker_color=color,
                hovertext=texts,
            )
        )
    fig.update_layout(
        barmode="group",
        title={"text": "Downtime after each fault (s)", "x": 0.01},
        template="plotly_white",
        height=340,
        margin={"l": 70, "r": 20, "t": 50, "b": 60},
    )
    fig.update_yaxes(title_text="fault → new leader (s)", rangemode="tozero")
    return fig


def unavailability(a: Side, b: Side) -> go.Figure:
    """Windows without a writable leader, one row per run."""
    spans = [
        metrics.Span(side.label, s, e, "no writable leader")
        for side in (a, b)
        for s, e in metrics.unavailability_windows(side.traces[0])
    ]
    fig = go.Figure(
        figures.span_bars(
            spans,
            {"no writable leader": "#d1495b"},
            hover="{row}: no writable leader<br>{start:.3f} s → {end:.3f} s ({duration:.3f} s)",
        )
    )
    fig.update_yaxes(categoryorder="array", categoryarray=[b.label, a.label])
    end = max(metrics.end_time(a.traces[0]), metrics.end_time(b.traces[0]))
    return figures._base_layout(fig, "Unavailability windows", end, 240)


def _cluster_max(series: dict[str, metrics.Series]) -> tuple[np.ndarray, np.ndarray]:
    """The highest value any node reported so far, over time."""
    points = sorted((t, v) for s in series.values() for t, v in zip(s.t, s.v, strict=True))
    if not points:
        return np.array([]), np.array([])
    t = np.array([p[0] for p in points])
    v = np.maximum.accumulate(np.array([p[1] for p in points]))
    return t, v


def progress(a: Side, b: Side) -> go.Figure:
    """Highest term and highest commit index over time, both runs."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["highest term", "highest commit index"])
    for col, getter in ((1, metrics.term_series), (2, metrics.commit_series)):
        for side, color in ((a, SIDE_COLORS[0]), (b, SIDE_COLORS[1])):
            t, v = _cluster_max(getter(side.traces[0]))
            t2, v2 = thin(list(t), list(v))
            fig.add_trace(
                go.Scatter(
                    x=t2,
                    y=v2,
                    mode="lines",
                    line_shape="hv",
                    name=side.label,
                    legendgroup=side.label,
                    showlegend=col == 1,
                    line={"color": color},
                ),
                row=1,
                col=col,
            )
    fig.update_layout(
        title={"text": "Terms and commit progress", "x": 0.01},
        template="plotly_white",
        height=340,
        margin={"l": 70, "r": 20, "t": 60, "b": 40},
    )
    fig.update_xaxes(title_text="time (s)")
    return fig


# --- many against many -----------------------------------------------------------


MEASURES: dict[str, str] = {
    "first_leader": "time to first leader (s)",
    "election_time": "failover election time (s): fault -> new leader",
    "downtime": "failover downtime (s): fault -> every member up follows it",
    "leader_changes": "leader changes per run",
    "unavailable": "time without a writable leader per run (s)",
}


def samples(side: Side) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {k: [] for k in MEASURES}
    for h in side.headlines:
        if h.time_to_first_leader is not None:
            out["first_leader"].append(h.time_to_first_leader)
        out["election_time"] += [
            e.election_time for e in h.failovers if e.outcome == "elected" and e.election_time is not None
        ]
        out["downtime"] += [
            e.downtime for e in h.failovers if e.outcome == "elected" and e.downtime is not None
        ]
        out["leader_changes"].append(float(h.leader_changes))
        out["unavailable"].append(h.unavailable)
    return out


def ecdf(values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x = np.sort(np.asarray(values, dtype=float))
    y = np.arange(1, x.size + 1) / max(x.size, 1)
    return x, y


def cdfs(a: Side, b: Side) -> go.Figure:
    sa, sb = samples(a), samples(b)
    keys = list(MEASURES)
    rows = (len(keys) + 1) // 2
    fig = make_subplots(
        rows=rows, cols=2, subplot_titles=[MEASURES[k] for k in keys], vertical_spacing=0.36 / rows
    )
    for i, key in enumerate(keys):
        row, col = i // 2 + 1, i % 2 + 1
        for side, data, color in ((a, sa, SIDE_COLORS[0]), (b, sb, SIDE_COLORS[1])):
            x, y = ecdf(data[key])
            if not x.size:
                continue
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=y,
                    mode="lines+markers",
                    line_shape="hv",
                    name=f"{side.label} (n={x.size})",
                    legendgroup=side.label,
                    showlegend=i == 0,
                    line={"color": color},
                    marker={"size": 4},
                ),
                row=row,
                col=col,
            )
        fig.update_yaxes(range=[0, 1.02], title_text="fraction", row=row, col=col)
    fig.update_layout(
        title={"text": "Distributions (empirical CDFs)", "x": 0.01},
        template="plotly_white",
        height=340 * rows,
        margin={"l": 70, "r": 20, "t": 70, "b": 40},
    )
    return fig


def distribution_rows(a: Side, b: Side) -> list[list[Any]]:
    sa, sb = samples(a), samples(b)
    rows = []
    for key, name in MEASURES.items():
        xa, xb = sa[key], sb[key]
        ma, mb = metrics.quantile(xa, 0.5), metrics.quantile(xb, 0.5)
        rows.append(
            [
                name,
                len(xa),
                ma,
                metrics.quantile(xa, 0.9),
                max(xa, default=None),
                len(xb),
                mb,
                metrics.quantile(xb, 0.9),
                max(xb, default=None),
                _diff(ma, mb),
            ]
        )
    return rows


def converged_rows(side: Side) -> list[Any]:
    values = [h.hashes_converged for h in side.headlines]
    return [
        side.label,
        len(values),
        sum(1 for v in values if v),
        sum(1 for v in values if v is False),
        sum(1 for h in side.headlines if h.checks_failed),
    ]


# --- the page --------------------------------------------------------------------


def render_compare(a: Side, b: Side) -> str:
    if not a.traces or not b.traces:
        raise ReportError("compare needs at least one trace on each side")
    body = [f"<header><h1>Comparison: {esc(a.label)} vs {esc(b.label)}</h1>"]
    for side in (a, b):
        names = ", ".join(sorted({t.scenario_name for t in side.traces}))
        sources = ", ".join(Path(t.source).name for t in side.traces[:6])
        more = f" and {len(side.traces) - 6} more" if len(side.traces) > 6 else ""
        body.append(
            f'<p class="meta" data-side="{esc(side.label)}"><b>{esc(side.label)}</b>: '
            f"{len(side.traces)} run(s) of {esc(names)}; backends "
            f"{esc(', '.join(sorted({t.backend for t in side.traces})))}; seeds "
            f"{esc(', '.join(str(seed) for seed in sorted_seeds(side.traces)[:12]))}; "
            f"{esc(sources)}{more}</p>"
        )
    body.append("</header>")
    for text in warnings(a, b):
        body.append(f'<div class="warn" id="warning">⚠ {esc(text)}</div>')
    for text in notes(a, b):
        body.append(f'<p class="help note">{esc(text)}</p>')
    if len(a.traces) == 1 and len(b.traces) == 1:
        ha, hb = a.headlines[0], b.headlines[0]
        body.append("<h2>Headline numbers</h2>")
        body.append(
            table(
                ["measure", a.label, b.label, f"{b.label} - {a.label}"],
                headline_rows(ha, hb),
                table_id="headline",
                numeric=[1, 2, 3],
            )
        )
        for key, fig in (
            ("timelines", timelines(a, b)),
            ("elections", election_bars(a, b)),
            ("unavailability", unavailability(a, b)),
            ("progress", progress(a, b)),
        ):
            body.append(figure_div(fig, f"fig-{key}"))
    else:
        body.append("<h2>Distributions</h2>")
        body.append(
            '<p class="help">Several runs on a side: each measure as an empirical CDF (the '
            "fraction of runs, or of failovers, at or below a value). Curves to the left are "
            "faster.</p>"
        )
        body.append(
            table(
                [
                    "measure",
                    f"{a.label} n",
                    "median",
                    "p90",
                    "max",
                    f"{b.label} n",
                    "median",
                    "p90",
                    "max",
                    f"median {b.label} - {a.label}",
                ],
                distribution_rows(a, b),
                table_id="distribution",
                numeric=[1, 2, 3, 4, 5, 6, 7, 8, 9],
            )
        )
        body.append(
            table(
                ["side", "runs", "hashes converged", "hashes differ", "runs with a failed check"],
                [converged_rows(a), converged_rows(b)],
                table_id="convergence",
                numeric=[1, 2, 3, 4],
            )
        )
        body.append(figure_div(cdfs(a, b), "fig-cdfs"))
    return document(f"etcdplay compare: {a.label} vs {b.label}", body)


def write_compare(
    a: Sequence[Trace],
    b: Sequence[Trace],
    path: str | Path,
    *,
    label_a: str | None = None,
    label_b: str | None = None,
) -> Path:
    """Write the comparison page of runs ``a`` against runs ``b`` (HTML, or PNG)."""
    if not a or not b:
        raise ReportError("compare needs at least one trace on each side")
    da, db = default_labels(a, b)
    side_a, side_b = Side(label_a or da, list(a)), Side(label_b or db, list(b))
    if side_a.label == side_b.label:
        side_b.label += " (B)"
    out = Path(path)
    if report_format(out) == "png":
        from etcdplay.report.png import write_png

        pair = len(a) == 1 and len(b) == 1
        figs = [timelines(side_a, side_b)] if pair else [cdfs(side_a, side_b)]
        write_png(figs, out, title=f"{side_a.label} vs {side_b.label}")
        return out
    text = render_compare(side_a, side_b)
    write_output(out, text, "the comparison")
    return out


__all__ = ["Side", "fmt", "render_compare", "write_compare"]
