"""The readable summary printed after a run: leaders, elections, final state
per node and the checks, as rich tables. Built from the trace alone, so a
simulated and a live run read the same."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from etcdplay import metrics
from etcdplay.schedule import late_steps
from etcdplay.step_ops import MAX_LISTED, step_operations
from etcdplay.trace import Trace


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.0f} ms"


def print_summary(trace: Trace, console: Console) -> None:
    header = trace.header
    scenario = header.get("scenario", {})
    console.print(
        f"[bold]{scenario.get('name', '?')}[/] on [bold]{trace.backend}[/]"
        f" ({len(trace.nodes)} nodes, seed {trace.seed}"
        + (f", etcd {header['etcd_version']}" if header.get("etcd_version") else "")
        + f"): {metrics.end_time(trace):.2f} s"
    )

    leaders = Table(title="Leaders", title_justify="left")
    for col in ("leader", "term", "from", "to", "tenure"):
        leaders.add_column(col, justify="right" if col != "leader" else "left")
    for tenure in metrics.leader_tenures(trace):
        leaders.add_row(
            tenure.row,
            str(tenure.term),
            f"{tenure.start:.3f} s",
            f"{tenure.end:.3f} s",
            _ms(tenure.duration),
        )
    console.print(leaders)

    elections = Table(title="Elections", title_justify="left")
    for col in ("after", "at", "outcome", "new leader", "term", "rounds", "election time", "downtime"):
        elections.add_column(col)
    for election in metrics.elections(trace):
        elections.add_row(
            election.cause,
            f"{election.at:.3f} s",
            election.outcome,
            election.new_leader or ("-" if election.outcome == "kept" else "[red]none[/]"),
            "-" if election.new_term is None else str(election.new_term),
            str(election.rounds),
            _ms(election.election_time),
            _ms(election.downtime),
        )
    console.print(elections)

    nodes = Table(title="Nodes at the end", title_justify="left")
    for col in ("node", "role", "term", "leader", "commit", "applied", "rev", "keys", "hash"):
        # no_wrap: a role or hash cut in two reads as two values
        nodes.add_column(
            col, no_wrap=True, justify="left" if col in ("node", "role", "leader", "hash") else "right"
        )
    for name, status in sorted(metrics.final_status(trace).items(), key=lambda kv: _order(kv[0])):
        role = status.get("role") if status.get("running") else "[dim]down[/]"
        nodes.add_row(
            name,
            *(
                str(x) if x is not None else "-"
                for x in (
                    role,
                    status.get("term"),
                    status.get("leader"),
                    status.get("commit"),
                    status.get("applied"),
                    status.get("revision"),
                    status.get("keys"),
                    _short(status.get("hash")),
                )
            ),
        )
    console.print(nodes)

    writes = metrics.client_writes(trace)
    if writes.t:
        latencies = [lat for lat, ok in zip(writes.latency, writes.ok, strict=True) if ok]
        failed = sum(1 for ok in writes.ok if not ok)
        p50, p99 = metrics.quantile(latencies, 0.5), metrics.quantile(latencies, 0.99)
        console.print(
            f"Client writes: {len(latencies)} ok, {failed} failed; latency p50 {_ms(p50)}, p99 {_ms(p99)},"
            f" max {_ms(max(latencies) if latencies else None)}"
        )

    _print_step_ops(trace, console)

    for step in late_steps(trace.events):
        console.print(
            f"[bold yellow]late step:[/] step {step.get('index')} ({step.get('action')}) began at "
            f"{float(step['t']):.3f} s, {float(step['late']):.3f} s after its time: an earlier step blocked"
        )

    checks = Table(title="Checks", title_justify="left")
    for col in ("check", "result", "detail"):
        checks.add_column(col)
    for check in metrics.checks(trace):
        if check.get("skipped"):
            verdict = "[yellow]skipped[/]"
        else:
            verdict = "[green]ok[/]" if check["ok"] else "[bold red]FAILED[/]"
        detail = str(check.get("detail", ""))
        if not check["ok"] and check.get("at") is not None:
            detail += f" (at {check['at']:.3f} s)"
        checks.add_row(str(check["name"]), verdict, detail)
    console.print(checks)
    for check in metrics.checks(trace):
        if check.get("operations"):
            console.print(f"{check['name']}: the operations that admit no legal order ([invoked, answered]):")
            for line in check["operations"]:
                console.print(f"  {line}", highlight=False, markup=False)


def _print_step_ops(trace: Trace, console: Console) -> None:
    ops = step_operations(trace)
    if not ops:
        return
    table = Table(title="Client operations of the steps", title_justify="left")
    for col in ("at", "op", "key", "value", "result", "node"):
        table.add_column(col, justify="right" if col == "at" else "left")
    for op in ops[:MAX_LISTED]:
        result = f"[green]ok[/] {_ms(op.latency)}" if op.ok else f"[red]failed[/] {escape(op.error or '')}"
        table.add_row(
            f"{op.t:.3f} s", op.op, escape(op.key), escape(op.shown_value), result, op.node or "-"
        )
    console.print(table)
    if len(ops) > MAX_LISTED:
        console.print(f"  ... and {len(ops) - MAX_LISTED} more (see the trace)")


def _short(digest: object) -> str | None:
    """The first 8 hex digits are plenty to tell hashes apart by eye."""
    return None if digest is None else str(digest)[:8]


def _order(name: str) -> tuple[int, str]:
    return (int(name[1:]), name) if name[1:].isdigit() else (1 << 30, name)
