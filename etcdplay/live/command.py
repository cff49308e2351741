"""``etcdplay live``: run a scenario on a real etcd cluster started on this machine.

Registered in ``etcdplay.cli``. Shares scenario loading, the trace file, the
summary and the exit status with ``simulate``; what is live-specific here is
choosing the etcd binary, the data directory and clean teardown on Ctrl-C,
SIGTERM, errors and failed checks.
"""

from __future__ import annotations

import contextlib
import signal
import types
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated

import typer

from etcdplay.agent.options import AgentCaOption, AgentsOption, TokenFileOption
from etcdplay.backend import BackendError
from etcdplay.repeat import BUDGET_HELP, REPEAT_HELP, UNTIL_FAIL_HELP
from etcdplay.repeat import wanted as repeat_wanted
from etcdplay.runner import RunResult


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP unwind like Ctrl-C, so every member is stopped on the way out."""

    def handler(signum: int, _frame: types.FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError):  # not the main thread
            previous[sig] = signal.signal(sig, handler)
    # A process started in the background by a non-interactive shell (CI, `cmd &`)
    # inherits SIGINT ignored, and Python then installs no KeyboardInterrupt
    # for it: `kill -INT` did nothing and the run went on to exit 0. A live
    # run owns etcd processes and must stop them on SIGINT, so it listens.
    with contextlib.suppress(ValueError):
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def live(
    scenario: Annotated[str | None, typer.Argument(help="built-in name or scenario .toml file")] = None,
    seed: Annotated[
        int | None, typer.Option(help="random seed (selectors, chaos schedule, proxy delays)")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write the trace (JSON Lines)")] = None,
    report: Annotated[Path | None, typer.Option(help="write an HTML report of the run")] = None,
    replay: Annotated[
        Path | None, typer.Option(help="run the (expanded) scenario and seed recorded in a trace's header")
    ] = None,
    etcd_bin: Annotated[
        str | None,
        typer.Option("--etcd-bin", help="etcd binary (default: $ETCDPLAY_ETCD_BIN, then etcd on PATH)"),
    ] = None,
    keep_data: Annotated[
        bool, typer.Option("--keep-data", help="keep the members' data dirs and logs after the run")
    ] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="where to create the run's directory (default: temp dir)"),
    ] = None,
    base_port: Annotated[
        int | None,
        typer.Option(help="use ports BASE.. BASE+2N-1 for client/peer ports instead of free ones"),
    ] = None,
    heartbeat_ms: Annotated[
        float | None, typer.Option(help="override cluster.heartbeat_ms (etcd --heartbeat-interval)")
    ] = None,
    election_timeout_ms: Annotated[
        float | None, typer.Option(help="override cluster.election_timeout_ms (etcd --election-timeout)")
    ] = None,
    no_proxy: Annotated[
        bool, typer.Option("--no-proxy", help="peers talk directly (no partition/isolate/delay faults)")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress line, no summary")] = False,
    repeat: Annotated[int | None, typer.Option("--repeat", min=1, help=REPEAT_HELP)] = None,
    until_fail: Annotated[bool, typer.Option("--until-fail", help=UNTIL_FAIL_HELP)] = False,
    budget: Annotated[str | None, typer.Option("--budget", help=BUDGET_HELP)] = None,
    agents: AgentsOption = None,
    token_file: TokenFileOption = None,
    agent_ca: AgentCaOption = None,
) -> None:
    """Run a scenario on a real etcd cluster: on this machine (loopback), or on
    `etcdplay agent`s on other machines with --agents (docs/agent.md)."""
    from etcdplay.agent.options import agent_options, refuse_local_flags
    from etcdplay.cli import check_outputs, errors, fail, finish_run, load_scenario, run_repeated, trace_sink
    from etcdplay.live.backend import LiveBackend
    from etcdplay.progress import live_progress
    from etcdplay.runner import make_header, run_scenario
    from etcdplay.scenario import ScenarioError, from_dict
    from etcdplay.trace import TraceWriter

    check_outputs(out, report, replay)
    sc, replay_seed = load_scenario(scenario, replay)
    if heartbeat_ms is not None or election_timeout_ms is not None:
        data = sc.to_dict()
        cluster = data.setdefault("cluster", {})
        if heartbeat_ms is not None:
            cluster["heartbeat_ms"] = heartbeat_ms
        if election_timeout_ms is not None:
            cluster["election_timeout_ms"] = election_timeout_ms
            cluster["timer"] = "etcd"
        try:
            sc = from_dict(data, "timer overrides")
        except ScenarioError as exc:
            fail(str(exc))
    run_seed = seed if seed is not None else (replay_seed if isinstance(replay_seed, int) else 1)
    expanded = sc.expanded(run_seed)
    try:
        remote = agent_options(agents, token_file, agent_ca)
        local_flags = {"--etcd-bin": etcd_bin, "--data-dir": data_dir, "--base-port": base_port}
        refuse_local_flags(remote, **local_flags)
    except BackendError as exc:
        fail(str(exc))

    def new_backend(keep: bool) -> LiveBackend:
        return LiveBackend(
            etcd_bin,
            keep_data=keep,
            data_root=data_dir,
            use_proxy=not no_proxy,
            base_port=base_port,
            agents=remote,
        )

    if repeat_wanted(repeat, until_fail, budget):

        def once(one_seed: int, sink: IO[str]) -> RunResult:
            one = sc.expanded(one_seed)
            backend = new_backend(False)
            try:
                with _sigterm_as_interrupt():
                    header = make_header(one, one_seed, "live", **backend.header_fields())
                    writer = TraceWriter(header, sink)
                    return run_scenario(one, backend, one_seed, writer)
            except BackendError as exc:
                fail(str(exc))
            finally:
                backend.close()

        run_repeated(once, run_seed, sc.name, repeat, until_fail, budget, out, report)
    try:
        backend = new_backend(keep_data)
    except BackendError as exc:
        fail(str(exc))
    try:
        extra = backend.header_fields()
    except BackendError as exc:
        backend.close()
        fail(str(exc))
    if not quiet:
        where = f" on {len(remote.addresses)} agent(s)" if remote is not None else ""
        errors.print(
            f"etcd {extra['etcd_version']} ({extra['etcd_bin']}): starting {expanded.cluster.size} "
            f"members{where} for [bold]{expanded.name}[/]",
            highlight=False,
        )
    try:
        with _sigterm_as_interrupt(), trace_sink(out) as sink:
            writer = TraceWriter(make_header(expanded, run_seed, "live", **extra), sink)
            if quiet:
                result = run_scenario(expanded, backend, run_seed, writer)
            else:
                duration = expanded.duration + expanded.settle
                with live_progress(writer, errors, len(expanded.steps), duration):
                    result = run_scenario(expanded, backend, run_seed, writer)
    except KeyboardInterrupt:
        backend.close()
        errors.print(
            "interrupted: every etcd member stopped"
            + (f"; data kept in {backend.dir}" if keep_data and backend.dir else "")
        )
        raise typer.Exit(130) from None
    except BackendError as exc:
        backend.close()
        fail(str(exc))
    finally:
        backend.close()
    if keep_data and backend.dir is not None and not quiet:
        errors.print(f"data and etcd logs kept in {backend.dir}")
    if backend.kept_remote and not quiet:
        errors.print(f"data and etcd logs kept on the agents: {', '.join(backend.kept_remote)}")
    finish_run(result, report, quiet, str(out) if out is not None else None)
