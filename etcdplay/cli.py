"""The front door: ``etcdplay simulate | live | report | compare | sweep | scenarios``.

Exit status: 0 when every check holds, 1 when a check fails, 2 for bad input,
3 for an internal error (a bug in etcdplay; etcdplay.internal_error).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from etcdplay import scenario as scenarios
from etcdplay.cli_help import hide_flag_types
from etcdplay.files import OutputError, atomic_output, check_distinct, check_writable
from etcdplay.live.command import live
from etcdplay.repeat import BUDGET_HELP, REPEAT_HELP, UNTIL_FAIL_HELP
from etcdplay.repeat import wanted as repeat_wanted
from etcdplay.report.formats import FormatError, check_trace_name, report_format
from etcdplay.runner import RunResult
from etcdplay.scenario import Scenario, ScenarioError
from etcdplay.trace import Trace, TraceError, TraceWriter, read_trace

app = typer.Typer(
    help="A playground and laboratory for Raft and etcd: simulate, run live, report, compare, sweep.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
hide_flag_types()
console = Console()
errors = Console(stderr=True, soft_wrap=True)

EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2


def _print_version(value: bool) -> None:
    if value:
        from etcdplay import __version__, native

        console.print(f"etcdplay {__version__}", highlight=False)
        console.print(native.describe(), highlight=False)
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and whether the compiled simulator core runs, then exit.",
        ),
    ] = False,
) -> None:
    """A playground and laboratory for Raft and etcd: simulate, run live, report, compare, sweep."""


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def load_scenario(name: str | None, replay: Path | None) -> tuple[Scenario, int | None]:
    """A scenario from a name/path, or from a trace header (with its seed) for --replay."""
    scenario, seed, _header = load_scenario_and_header(name, replay)
    return scenario, seed


def load_scenario_and_header(
    name: str | None, replay: Path | None
) -> tuple[Scenario, int | None, dict[str, object]]:
    """``load_scenario``, with the replayed trace's header ({} without --replay)."""
    if replay is not None:
        if name:
            fail("give a scenario or --replay TRACE, not both")
        try:
            trace = read_trace(replay)
        except TraceError as exc:
            fail(str(exc))
        data = trace.header.get("scenario")
        if not isinstance(data, dict):
            fail(f"{replay}: the trace header holds no scenario to replay")
        try:
            return scenarios.from_dict(data, f"{replay} (header)"), trace.seed, dict(trace.header)
        except ScenarioError as exc:
            fail(str(exc))
    if not name:
        fail("name a scenario (see 'etcdplay scenarios') or a .toml file, or give --replay TRACE")
    try:
        return scenarios.load(name), None, {}
    except ScenarioError as exc:
        fail(str(exc))


@contextlib.contextmanager
def trace_sink(path: Path | None) -> Iterator[IO[str] | None]:
    """The --out file, written to a temporary name and renamed at the end so an
    interrupted run never leaves a truncated trace under the requested name."""
    if path is None:
        yield None
        return
    with atomic_output(path, "--out") as handle:
        yield handle
    errors.print(f"wrote {path}", highlight=False)


def check_outputs(out: Path | None, report: Path | None, replay: Path | None) -> None:
    """Refuse, before the run, outputs that would overwrite each other or the replayed trace."""
    try:
        check_distinct([("--out", out), ("--report", report)], [replay] if replay else [])
        if out is not None:
            check_trace_name(out)
            check_writable(out, "--out")
        if report is not None and report.is_dir():
            raise OutputError(f"--report {report}: is a directory")
        if report is not None:
            report_format(report, "--report")
    except (OutputError, FormatError) as exc:
        fail(str(exc))


@app.command("scenarios")
def scenarios_cmd(
    name: Annotated[str | None, typer.Argument(help="show one scenario")] = None,
    explain: Annotated[bool, typer.Option("--explain", help="what it shows about Raft, in prose")] = False,
) -> None:
    """List the built-in scenarios, or show one (with --explain for the story)."""
    if name is None:
        table = Table(title="Built-in scenarios", title_justify="left")
        table.add_column("name", style="bold")
        table.add_column("nodes", justify="right")
        table.add_column("what happens")
        for builtin in scenarios.builtin_names():
            sc = scenarios.load_builtin(builtin)
            table.add_row(builtin, str(sc.cluster.size), sc.description)
        console.print(table)
        console.print(
            "Run one: [bold]etcdplay simulate NAME --seed 7[/]; learn: "
            "[bold]etcdplay scenarios NAME --explain[/]"
        )
        return
    try:
        sc = scenarios.load(name)
    except ScenarioError as exc:
        fail(str(exc))
    console.print(f"[bold]{sc.name}[/]: {sc.description}")
    c = sc.cluster
    console.print(
        f"cluster: {c.size} nodes, timer {c.timer}, heartbeat {c.heartbeat_ms:g} ms, election timeout "
        f"{c.election_timeout_ms} ms, pre-vote {'on' if c.pre_vote else 'off'}, "
        f"check-quorum {'on' if c.check_quorum else 'off'}; network latency {sc.network.latency_ms} ms, "
        f"loss {sc.network.loss:g}"
    )
    if explain:
        console.print(sc.explain.strip() or "(no explanation written for this scenario)")
    for step in sc.steps:
        fields = step.model_dump(exclude={"at", "action", "note"}, exclude_none=True)
        args = " ".join(f"{k}={v}" for k, v in fields.items())
        console.print(f"  {step.at:7.2f} s  {step.action:<16} {args}", highlight=False)
        if step.note:
            console.print(f"             [dim]{escape(step.note)}[/]", highlight=False)
    if sc.chaos is not None:
        spec = "; ".join(f"{k} = {_plain(v)}" for k, v in sc.chaos.model_dump().items())
        console.print(f"  + a random fault schedule from the seed: {spec}", highlight=False)


def _plain(value: object) -> str:
    """A scenario value as a person writes it, not as Python prints it."""
    if isinstance(value, tuple) and len(value) == 2:
        return f"{value[0]:g} to {value[1]:g}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


@app.command()
def simulate(
    scenario: Annotated[str | None, typer.Argument(help="built-in name or scenario .toml file")] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            help="random seed: same seed, same trace",
            show_default="1, or the replayed trace's seed",
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write the trace (JSON Lines)")] = None,
    report: Annotated[Path | None, typer.Option(help="write an HTML report of the run")] = None,
    replay: Annotated[Path | None, typer.Option(help="re-run the scenario and seed of a trace")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no summary")] = False,
    engine: Annotated[
        str,
        typer.Option(help="event loop: simpy, or heap (no SimPy underneath; same trace)"),
    ] = "simpy",
    messages: Annotated[
        bool,
        typer.Option(
            "--messages",
            help="trace every peer message, election timer and log (large; on by itself when "
            "--replay names a trace recorded with them)",
        ),
    ] = False,
    repeat: Annotated[int | None, typer.Option("--repeat", min=1, help=REPEAT_HELP)] = None,
    until_fail: Annotated[bool, typer.Option("--until-fail", help=UNTIL_FAIL_HELP)] = False,
    budget: Annotated[str | None, typer.Option("--budget", help=BUDGET_HELP)] = None,
) -> None:
    """Run a scenario on the deterministic Raft simulator."""
    from etcdplay.sim.backend import ENGINES

    if engine not in ENGINES:
        fail(f"--engine {engine!r}: use one of {', '.join(ENGINES)}")
    check_outputs(out, report, replay)
    sc, replay_seed, replayed = load_scenario_and_header(scenario, replay)
    from etcdplay.runner import make_header, run_scenario
    from etcdplay.sim.backend import SimBackend

    run_seed = seed if seed is not None else (replay_seed if isinstance(replay_seed, int) else 1)
    expanded = sc.expanded(run_seed)
    messages = messages or replayed.get("messages") is True
    extra: dict[str, object] = {"messages": True} if messages else {}
    if repeat_wanted(repeat, until_fail, budget):

        def once(one_seed: int, sink: IO[str]) -> RunResult:
            one = sc.expanded(one_seed)
            writer = TraceWriter(make_header(one, one_seed, "sim", **extra), sink)
            return run_scenario(one, SimBackend(engine=engine, trace_messages=messages), one_seed, writer)

        run_repeated(once, run_seed, sc.name, repeat, until_fail, budget, out, report)
    try:
        with trace_sink(out) as sink:
            writer = TraceWriter(make_header(expanded, run_seed, "sim", **extra), sink)
            backend = SimBackend(engine=engine, trace_messages=messages)
            result = run_scenario(expanded, backend, run_seed, writer)
    except KeyboardInterrupt:
        # typer would exit 130 without a word; --out is written whole or not at all
        errors.print("interrupted: no output written", highlight=False)
        raise typer.Exit(130) from None
    finish_run(result, report, quiet, str(out) if out is not None else None)


app.command()(live)


def run_repeated(
    once: Callable[[int, IO[str]], RunResult],
    first_seed: int,
    scenario: str,
    repeat: int | None,
    until_fail: bool,
    budget: str | None,
    out: Path | None,
    report: Path | None,
) -> NoReturn:
    """The repeat mode shared by simulate and live (etcdplay.repeat); exits."""
    from etcdplay.repeat import run_cli

    try:
        code = run_cli(
            once,
            first_seed=first_seed,
            repeat=repeat,
            until_fail=until_fail,
            budget=budget,
            scenario=scenario,
            out=out,
            report=report,
            console=console,
            errors=errors,
        )
    except ValueError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        errors.print("interrupted", highlight=False)
        raise typer.Exit(130) from None
    raise typer.Exit(code)


def _register_terminal() -> None:
    from etcdplay.terminal.command import terminal

    app.command(help="Play with a cluster in a terminal UI: kill, partition, stress, put/get.")(terminal)


_register_terminal()


def _register_web() -> None:
    from etcdplay.web.command import web

    app.command()(web)


_register_web()


def finish_run(result: RunResult, report: Path | None, quiet: bool, source: str | None = None) -> None:
    """Summary, optional report, exit status: shared by simulate and live."""
    try:
        _finish_run(result, report, quiet, source)
    except KeyboardInterrupt:
        # after the run: the trace is written; exit 130, not click's "Aborted!" (1)
        errors.print("interrupted", highlight=False)
        raise typer.Exit(130) from None


def _finish_run(result: RunResult, report: Path | None, quiet: bool, source: str | None) -> None:
    from etcdplay.summary import print_summary

    # the trace's own name on report pages, not "<memory>"
    result.trace.source = source or f"this {result.trace.backend} run (trace not saved: no --out)"
    if not quiet:
        print_summary(result.trace, console)
    if report is not None:
        write_report = _report_writer()
        write_report(result.trace, report)
        errors.print(f"wrote {report}", highlight=False)
    if not result.ok:
        for check in result.failed:
            where = f" at {check.at:.3f} s" if check.at is not None else ""
            nodes = f" ({', '.join(check.nodes)})" if check.nodes else ""
            errors.print(f"[bold red]check failed:[/] {check.name}{where}{nodes}: {check.detail}")
        raise typer.Exit(EXIT_CHECK_FAILED)


def _report_writer() -> Callable[[Trace, Path], object]:
    try:
        from etcdplay.report.html import write_report
    except ImportError:  # pragma: no cover - reports ship with the package
        fail("reports are not available in this installation")
    return write_report


def _register_report_commands() -> None:
    from etcdplay.report.command import compare, report

    app.command(help="Plotly HTML (or PNG) report of one trace.")(report)
    app.command(help="Compare two runs (or two sets of runs) on shared axes.")(compare)


_register_report_commands()


def _register_sweep() -> None:
    from etcdplay.sweep.command import sweep_app

    app.add_typer(sweep_app, name="sweep")


_register_sweep()


def _register_agent() -> None:
    from etcdplay.agent.command import agent

    app.command(help="Serve etcd members on this machine to a controller elsewhere (--agents).")(agent)


_register_agent()


def main() -> None:
    from etcdplay.distributions import DistributionError
    from etcdplay.report.errors import ReportError

    try:
        app()
    except (ScenarioError, TraceError, ReportError, DistributionError, OutputError) as exc:
        # Bad input found deep inside a command: one line, exit status 2.
        errors.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(EXIT_BAD_INPUT)
    except Exception as exc:  # a bug in etcdplay: its own exit status, not 1 or 2
        from etcdplay.internal_error import EXIT_INTERNAL, describe

        errors.print(f"[bold red]error:[/] {escape(describe(exc))}", highlight=False)
        sys.exit(EXIT_INTERNAL)


if __name__ == "__main__":
    main()
