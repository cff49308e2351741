"""One Plotly figure per report panel, drawn from a trace's derived metrics.

Every panel uses plain SVG traces (no WebGL, so it renders in any headless
browser) and numpy arrays (which Plotly stores as compact typed arrays).
Spans (roles, faults, hash agreement) are horizontal bars with a ``base``:
one bar per span, one trace per label so the legend names the colours.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from etcdplay import metrics
from etcdplay.report.downsample import MAX_POINTS, minmax, thin
from etcdplay.trace import Trace

ROLE_COLORS = {
    "follower": "#9aa5b1",
    "pre-candidate": "#f2c14e",
    "candidate": "#f08a24",
    "leader": "#2a9d4b",
    "down": "#d1495b",
}
FAULT_COLORS = {
    "crash": "#8b1e3f",
    "stop": "#b5485f",
    "partition": "#3c6e9f",
    "isolate": "#6a4c93",
    "delay": "#c7a008",
}
HASH_COLORS = {"agree": "#2a9d4b", "differ": "#e76f51", "down": "#d1495b", "unknown": "#cfd6dd"}
NODE_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
FAULT_ROW = "faults"
UNAVAILABLE_COLOR = "rgba(209, 73, 91, 0.18)"


def node_color(index: int) -> str:
    return NODE_COLORS[index % len(NODE_COLORS)]


def _base_layout(fig: go.Figure, title: str, end: float, height: int) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01},
        height=height,
        margin={"l": 70, "r": 20, "t": 50, "b": 40},
        legend={"orientation": "h", "y": -0.18, "x": 0},
        template="plotly_white",
        hovermode="closest",
    )
    fig.update_xaxes(range=[0, max(end, 1e-6)], title_text="time (s)")
    return fig


def span_bars(
    spans: Sequence[metrics.Span],
    colors: dict[str, str],
    *,
    hover: str,
    legendgroup_prefix: str = "",
    showlegend: bool = True,
) -> list[go.Bar]:
    """One horizontal bar trace per label; each span a bar from start to end."""
    by_label: dict[str, list[metrics.Span]] = {}
    for span in spans:
        by_label.setdefault(span.label, []).append(span)
    traces = []
    for label in [*colors, *sorted(set(by_label) - set(colors))]:
        items = by_label.get(label)
        if not items:
            continue
        texts = [
            hover.format(
                row=s.row,
                label=s.label,
                start=s.start,
                end=s.end,
                duration=s.duration,
                term="" if s.term is None else s.term,
                detail=s.detail,
            )
            for s in items
        ]
        traces.append(
            go.Bar(
                orientation="h",
                y=[s.row for s in items],
                x=np.array([max(s.duration, 0.0) for s in items]),
                base=np.array([s.start for s in items]),
                name=label,
                legendgroup=legendgroup_prefix + label,
                showlegend=showlegend,
                marker={"color": colors.get(label, "#888888"), "line": {"width": 0}},
                hovertext=texts,
                hoverinfo="text",
                width=0.8,
            )
        )
    return traces


ROLE_HOVER = "{row}: {label} (term {term})<br>{start:.3f} s → {end:.3f} s ({duration:.3f} s)"


def fault_span_items(trace: Trace) -> list[metrics.Span]:
    spans = []
    for f in metrics.fault_spans(trace):
        undone = f"undone by {f.undone_by}" if f.undone_by else "lasted to the end"
        spans.append(
            metrics.Span(FAULT_ROW, f.start, f.end, f.action, detail=f"#{f.index} {f.describe}, {undone}")
        )
    return spans


FAULT_HOVER = "{detail}<br>{start:.3f} s → {end:.3f} s ({duration:.3f} s)"


def timeline_traces(trace: Trace, *, legendgroup_prefix: str = "", showlegend: bool = True) -> list[go.Bar]:
    """Role bands per node and a row of fault spans (for reuse in comparisons)."""
    return [
        *span_bars(
            metrics.role_spans(trace),
            ROLE_COLORS,
            hover=ROLE_HOVER,
            legendgroup_prefix=legendgroup_prefix,
            showlegend=showlegend,
        ),
        *span_bars(
            fault_span_items(trace),
            FAULT_COLORS,
            hover=FAULT_HOVER,
            legendgroup_prefix=legendgroup_prefix,
            showlegend=showlegend,
        ),
    ]


def timeline_rows(trace: Trace) -> list[str]:
    """Top to bottom: the fault row, then n1..nN."""
    return [FAULT_ROW, *metrics.node_names(trace)]


def timeline(trace: Trace) -> go.Figure:
    """Roles per node over time, with faults as spans on their own row."""
    fig = go.Figure(timeline_traces(trace))
    fig.add_traces(fault_markers(trace))
    rows = timeline_rows(trace)
    fig.update_layout(barmode="overlay")
    fig.update_yaxes(categoryorder="array", categoryarray=list(reversed(rows)), title_text="")
    return _base_layout(
        fig, "Timeline: role of each node, and faults", metrics.end_time(trace), 160 + 40 * len(rows)
    )


def fault_markers(trace: Trace) -> list[go.Scatter]:
    """A marker at the moment of every fault event, restart and heal included."""
    events = metrics.fault_events(trace)
    if not events:
        return []
    texts = []
    for e in events:
        groups = e.get("groups")
        where = " | ".join(",".join(g) for g in groups) if groups else ",".join(e.get("nodes") or [])
        extra = f" latency {e['latency_ms']}" if e.get("latency_ms") is not None else ""
        texts.append(f"{e['t']:.3f} s: {e.get('action')} {where}{extra}")
    return [
        go.Scatter(
            x=np.array([float(e["t"]) for e in events]),
            y=[FAULT_ROW] * len(events),
            mode="markers",
            marker={"symbol": "line-ns-open", "size": 18, "color": "#222222"},
            name="fault events",
            hovertext=texts,
            hoverinfo="text",
        )
    ]


def _series_traces(
    series: dict[str, metrics.Series],
    nodes: Sequence[str],
    *,
    name_suffix: str = "",
    dash: str = "solid",
    step: bool = False,
    max_points: int = MAX_POINTS,
    legendgroup: bool = True,
) -> list[go.Scatter]:
    traces = []
    for i, node in enumerate(nodes):
        s = series.get(node)
        if s is None or not s.t:
            continue
        t, v = thin(s.t, s.v, max_points, step=step)
        traces.append(
            go.Scatter(
                x=t,
                y=v,
                mode="lines",
                line_shape="hv",
                name=f"{node}{name_suffix}",
                legendgroup=node if legendgroup else None,
                line={"color": node_color(i), "dash": dash, "width": 1.5},
                hovertemplate=f"{node}{name_suffix}: %{{y}} at %{{x:.3f}} s<extra></extra>",
            )
        )
    return traces


def terms(trace: Trace, max_points: int = MAX_POINTS) -> go.Figure:
    """Each node's term over time (from role and status events)."""
    nodes = metrics.node_names(trace)
    fig = go.Figure(_series_traces(metrics.term_series(trace), nodes, step=True))
    fig.update_yaxes(title_text="term", rangemode="tozero")
    return _base_layout(fig, "Term per node", metrics.end_time(trace), 320)


def progress(trace: Trace, max_points: int = MAX_POINTS) -> go.Figure:
    """Commit index (solid) and applied index (dotted) per node: who lags, who catches up."""
    nodes = metrics.node_names(trace)
    fig = go.Figure(
        [
            *_series_traces(
                metrics.commit_series(trace), nodes, name_suffix=" commit", max_points=max_points
            ),
            *_series_traces(
                metrics.status_series(trace, "applied"),
                nodes,
                name_suffix=" applied",
                dash="dot",
                max_points=max_points,
            ),
        ]
    )
    fig.update_yaxes(title_text="index", rangemode="tozero")
    return _base_layout(fig, "Commit and applied index per node", metrics.end_time(trace), 360)


HASH_HOVER = "{row}: {label}<br>hash {detail}<br>{start:.3f} s → {end:.3f} s"


def data(trace: Trace, max_points: int = MAX_POINTS) -> go.Figure:
    """Key count per node (top) and whether its hash agrees with the majority (bottom)."""
    nodes = metrics.node_names(trace)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.62, 0.38], vertical_spacing=0.06)
    for tr in _series_traces(metrics.status_series(trace, "keys"), nodes, max_points=max_points):
        fig.add_trace(tr, row=1, col=1)
    spans = metrics.hash_agreement(trace)
    end = metrics.end_time(trace)
    hidden = ""
    if len(spans) > max_points:
        # thousands of sub-pixel flickers (a node a write behind under load) make the
        # page slow and say nothing at full width: hide brief differences, say so
        brief = end / max_points
        spans = [s for s in spans if not (s.label == "differ" and s.duration < brief)]
        hidden = f" (differences under {brief:.2f} s hidden)"
    for tr in span_bars(spans, HASH_COLORS, hover=HASH_HOVER, legendgroup_prefix="hash "):
        tr.name = f"hash {tr.name}"
        fig.add_trace(tr, row=2, col=1)
    fig.update_layout(barmode="overlay")
    fig.update_yaxes(title_text="keys", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(
        categoryorder="array", categoryarray=list(reversed(nodes)), title_text="hash", row=2, col=1
    )
    _base_layout(fig, f"Keys and hash agreement per node{hidden}", end, 300 + 30 * len(nodes))
    fig.update_xaxes(title_text="", row=1, col=1)
    return fig


def window_polygons(
    windows: Sequence[tuple[float, float]], top: float
) -> tuple[list[float | None], list[float | None]]:
    """Rectangles from 0 to ``top`` over each window, as one fillable scatter path."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    for start, end in windows:
        xs += [start, start, end, end, start, None]
        ys += [0.0, top, top, 0.0, 0.0, None]
    return xs, ys


def client(trace: Trace, max_points: int = MAX_POINTS) -> go.Figure:
    """Write latency over time, failed writes, and unavailability windows.

    Each write is drawn when it was sent (its event's time less its latency),
    so a write lost in an outage sits inside the outage's band, not at its
    timeout seconds later. The latency axis is scaled to the writes that
    succeeded; failed writes (which mostly waited out a timeout) are drawn
    along its top edge, their real wait in the hover text."""
    writes = metrics.client_writes(trace)
    done = np.asarray(writes.t, dtype=float)
    lat = np.asarray(writes.latency, dtype=float) * 1000.0
    sent = done - lat / 1000.0
    ok = np.asarray(writes.ok, dtype=bool)
    windows = metrics.unavailability_windows(trace)
    scale = lat[ok] if ok.any() else lat
    top = float(scale.max()) * 1.1 if scale.size and scale.max() > 0 else 1.0
    traces: list[go.Scatter] = []
    xs, ys = window_polygons(windows, top)
    if windows:
        traces.append(
            go.Scatter(
                x=xs,
                y=ys,
                fill="toself",
                mode="lines",
                line={"width": 0},
                fillcolor=UNAVAILABLE_COLOR,
                name="no leader could accept writes",
                hoverinfo="skip",
            )
        )
    if ok.any():
        ot, ol = minmax(sent[ok], lat[ok], max_points)
        traces.append(
            go.Scatter(
                x=ot,
                y=ol,
                mode="markers",
                name="write ok",
                marker={"size": 4, "color": "#2a6f97"},
                hovertemplate="ok write sent at %{x:.3f} s: %{y:.1f} ms<extra></extra>",
            )
        )
    failed = np.flatnonzero(~ok)
    if failed.size:
        keep = failed if failed.size <= max_points else failed[:: failed.size // max_points + 1]
        traces.append(
            go.Scatter(
                x=sent[keep],
                y=np.minimum(lat[keep], top),
                mode="markers",
                name=f"write failed ({failed.size}; at the top when it waited longer)",
                marker={"size": 8, "symbol": "x", "color": "#d1495b"},
                hovertext=[
                    f"sent at {sent[i]:.3f} s, failed after {lat[i]:.1f} ms: {writes.error[i]}" for i in keep
                ],
                hoverinfo="text",
            )
        )
    fig = go.Figure(traces)
    fig.update_yaxes(title_text="write latency (ms)", range=[0, top * 1.05])
    total = sum(b - a for a, b in windows)
    title = (
        f"Client view: {len(writes.t)} writes, {int(failed.size)} failed; "
        f"{total:.3f} s without a leader able to accept writes"
    )
    return _base_layout(fig, title, metrics.end_time(trace), 360)


def panels(trace: Trace, max_points: int = MAX_POINTS) -> dict[str, go.Figure]:
    """Every figure of a report, by panel id, in page order."""
    return {
        "timeline": timeline(trace),
        "terms": terms(trace, max_points),
        "progress": progress(trace, max_points),
        "data": data(trace, max_points),
        "client": client(trace, max_points),
    }
