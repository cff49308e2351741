"""The report of one run: header, checks, elections, figures, final status.

``write_report(trace, path)`` is what ``etcdplay report`` and
``simulate/live --report`` call; a ``.png`` path gives a static image instead
of the HTML page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from etcdplay import metrics
from etcdplay.files import OutputError, write_text_atomic
from etcdplay.report import figures
from etcdplay.report.errors import ReportError
from etcdplay.report.formats import report_format
from etcdplay.report.page import document, esc, figure_div, fmt, table
from etcdplay.step_ops import MAX_LISTED, step_operations
from etcdplay.trace import Trace, TraceWriter

HELP = {
    "timeline": "One row per node: its role over time. The top row shows each fault from "
    "injection until the restart or heal that undid it; ticks mark every fault event. "
    "Hover for terms and times; drag to zoom, double-click to reset.",
    "terms": "Each node's term. A step up is a new election round; a node that jumps "
    "alone (without pre-vote) has been campaigning on its own.",
    "progress": "Commit index (solid) and applied index (dotted). A flat line while others "
    "climb is a node that lags or is cut off; a steep climb after a restart is it catching up.",
    "data": "Top: key count per node. Bottom: whether each node's hash matches the most "
    "common hash among running nodes at that moment. All rows green at the end means "
    "the nodes converged.",
    "client": "Latency of every write at the time it was sent (thinned for long runs; failures are "
    "always shown, along the top edge when they waited longer than the slowest successful write), "
    "and shaded windows when no leader could accept writes.",
}


def as_trace(trace: Trace | TraceWriter) -> Trace:
    return Trace.from_writer(trace) if isinstance(trace, TraceWriter) else trace


def header_html(trace: Trace, title: str) -> str:
    end = [e for e in trace.events if e["kind"] == "end"]
    failed = [c for c in metrics.checks(trace) if not c.get("ok")]
    if failed:
        badge = f'<span class="badge fail" id="verdict">{len(failed)} check(s) failed</span>'
    elif metrics.checks(trace):
        badge = '<span class="badge pass" id="verdict">all checks held</span>'
    else:
        badge = '<span class="badge" id="verdict">no checks recorded</span>'
    scenario = trace.header.get("scenario") or {}
    meta: list[tuple[str, Any]] = [
        ("scenario", trace.scenario_name),
        ("seed", trace.seed),
        ("backend", trace.backend),
        ("nodes", len(metrics.node_names(trace))),
        ("duration", f"{metrics.end_time(trace):.3f} s"),
        ("events", len(trace.events)),
    ]
    if trace.header.get("etcd_version"):
        meta.append(("etcd", trace.header["etcd_version"]))
    if trace.header.get("started_at"):
        meta.append(("started", trace.header["started_at"]))
    if not end:
        meta.append(("note", "no end event: the run was cut short"))
    spans = "".join(f'<span data-field="{esc(k)}"><b>{esc(k)}</b> {esc(v)}</span>' for k, v in meta)
    description = scenario.get("description") or ""
    return (
        f"<header><h1>{esc(title)} {badge}</h1>"
        f'<p class="meta">{spans}</p>'
        + (f'<p class="help">{esc(description)}</p>' if description else "")
        + f'<p class="help">source: {esc(trace.source)}</p></header>'
    )


def checks_html(trace: Trace) -> str:
    results = metrics.checks(trace)
    if not results:
        return '<h2>Checks</h2><p class="help">No check results in this trace.</p>'
    rows = [
        (
            "held" if c.get("ok") else "FAILED",
            c.get("name"),
            c.get("at"),
            ", ".join(c.get("nodes") or []),
            c.get("detail"),
        )
        for c in results
    ]
    classes = ["" if c.get("ok") else "failed" for c in results]
    conflicts = "".join(
        f"<h3>{esc(str(c.get('name')))}: the operations that admit no legal order</h3>"
        '<pre class="conflict">' + esc("\n".join(c["operations"])) + "</pre>"
        for c in results
        if c.get("operations")
    )
    return (
        "<h2>Checks</h2>"
        + table(
            ["result", "check", "at (s)", "nodes", "detail"],
            rows,
            table_id="checks",
            numeric=[2],
            row_classes=classes,
        )
        + conflicts
    )


ELECTION_HEADERS = [
    "#",
    "cause",
    "at (s)",
    "old leader",
    "outcome",
    "new leader",
    "term",
    "election time (s)",
    "downtime (s)",
    "campaign (s)",
    "rounds",
    "split votes",
    "pre-votes",
]


def election_rows(found: list[metrics.Election]) -> list[list[Any]]:
    rows = []
    for e in found:
        old = f"{e.old_leader} (term {e.old_term})" if e.old_leader else "\u2013"
        rows.append(
            [
                e.fault_index,
                e.cause,
                e.at,
                old,
                e.outcome,
                e.new_leader,
                e.new_term,
                e.election_time,
                e.downtime,
                e.campaign,
                e.rounds,
                e.split_votes,
                e.pre_votes,
            ]
        )
    return rows


def elections_html(trace: Trace) -> str:
    found = metrics.elections(trace)
    classes = ["failed" if e.outcome == "unresolved" else "" for e in found]
    return (
        "<h2>Elections</h2>"
        '<p class="help">The first election, then every disruptive fault: election time is from '
        "the fault to the first leader of a newer term; downtime until every member that is "
        "up has learned that leader (blank when the trace does not say); campaign from the "
        "first pre-vote or vote request to that leader; rounds are the terms candidates stood "
        "in, and every round but the winning one is a split (or lost) vote. <i>kept</i>: "
        "the leader survived the fault; <i>unresolved</i>: no new leader before the next fault "
        "or the end.</p>"
        + table(
            ELECTION_HEADERS,
            election_rows(found),
            table_id="elections",
            numeric=[0, 2, 6, 7, 8, 9, 10, 11],
            row_classes=classes,
        )
    )


def final_status_html(trace: Trace) -> str:
    final = metrics.final_status(trace)
    if not final:
        return ""
    converged = metrics.hashes_converged(trace)
    rows: list[list[Any]] = []
    for node in metrics.node_names(trace):
        s = final.get(node, {})
        rows.append(
            [
                node,
                "yes" if s.get("running") else ("no" if s else "\u2013"),
                s.get("role"),
                s.get("term"),
                s.get("leader"),
                s.get("commit"),
                s.get("applied"),
                s.get("revision"),
                s.get("keys"),
                s.get("hash"),
            ]
        )
    verdict = {True: "all running nodes' hashes match", False: "hashes differ", None: "hashes unknown"}[
        converged
    ]
    return (
        f'<h2>Final status <span class="badge {"pass" if converged else "fail"}" '
        f'id="converged">{esc(verdict)}</span></h2>'
        + table(
            ["node", "running", "role", "term", "leader", "commit", "applied", "revision", "keys", "hash"],
            rows,
            table_id="final-status",
            numeric=[3, 5, 6, 7, 8],
        )
    )


def step_ops_html(trace: Trace) -> str:
    """The put/get/delete steps and what they wrote or read."""
    ops = step_operations(trace)
    if not ops:
        return ""
    rows: list[list[Any]] = [
        [
            op.t,
            op.op,
            op.key,
            op.shown_value,
            "ok" if op.ok else f"failed: {op.error or ''}",
            _ms(op.latency),
            op.node or "\u2013",
        ]
        for op in ops[:MAX_LISTED]
    ]
    more = f"<p>... and {len(ops) - MAX_LISTED} more (see the trace)</p>" if len(ops) > MAX_LISTED else ""
    return (
        "<h2>Client operations of the steps</h2>"
        + table(
            ["at (s)", "op", "key", "value (put: written, get: read)", "result", "latency (ms)", "node"],
            rows,
            table_id="step-ops",
            numeric=[0, 5],
        )
        + more
    )


def summary_html(trace: Trace) -> str:
    h = metrics.headline(trace)
    rows: list[list[Any]] = [
        ["time to first leader (s)", h.time_to_first_leader],
        ["leader changes", h.leader_changes],
        ["highest term", h.max_term],
        ["time without a writable leader (s)", h.unavailable],
        ["writes (failed)", f"{h.writes} ({h.failed_writes})"],
        [
            "write latency p50 / p99 (ms)",
            f"{fmt(_ms(h.write_latency_p50), 1)} / {fmt(_ms(h.write_latency_p99), 1)}",
        ],
    ]
    return "<h2>Summary</h2>" + table(["measure", "value"], rows, table_id="summary", numeric=[1])


def _ms(value: float | None) -> float | None:
    return None if value is None else value * 1000.0


def render_report(trace: Trace | TraceWriter, *, max_points: int | None = None) -> str:
    """The whole report page as a string."""
    trace = as_trace(trace)
    if not trace.events:
        raise ReportError(f"{trace.source}: the trace has a header but no events: nothing to draw")
    title = f"{trace.scenario_name} ({trace.backend}, seed {trace.seed})"
    kwargs = {"max_points": max_points} if max_points else {}
    figs = figures.panels(trace, **kwargs)
    body = [
        header_html(trace, title),
        summary_html(trace),
        checks_html(trace),
        step_ops_html(trace),
        elections_html(trace),
    ]
    titles = {
        "timeline": "Timeline",
        "terms": "Terms",
        "progress": "Commit progress",
        "data": "Data: keys and hashes",
        "client": "Client view",
    }
    for key, fig in figs.items():
        body.append(f'<h2 id="h-{key}">{esc(titles[key])}</h2>')
        body.append(f'<p class="help">{esc(HELP[key])}</p>')
        body.append(figure_div(fig, f"fig-{key}"))
    body.append(final_status_html(trace))
    return document(f"etcdplay report: {title}", body)


def write_report(trace: Trace | TraceWriter, path: str | Path) -> Path:
    """Write the report of ``trace`` to ``path``: HTML, or a PNG image for ``.png``."""
    trace = as_trace(trace)
    out = Path(path)
    if report_format(out) == "png":
        from etcdplay.report.png import write_png

        write_png(list(figures.panels(trace).values()), out, title=_title(trace))
        return out
    text = render_report(trace)
    _write_text(out, text)
    return out


def _title(trace: Trace) -> str:
    return f"{trace.scenario_name} ({trace.backend}, seed {trace.seed})"


def _write_text(out: Path, text: str) -> None:
    write_output(out, text, "the report")


def write_output(out: Path, text: str, what: str) -> None:
    """Write a report file whole or not at all (an interrupted write leaves nothing)."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out, text, "")
    except OSError as exc:
        raise ReportError(f"{out}: cannot write {what} ({exc.strerror or exc})") from None
    except OutputError as exc:
        raise ReportError(f"cannot write {what}: {exc}") from None
