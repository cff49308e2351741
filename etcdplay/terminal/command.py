"""``etcdplay terminal``: the CLI entry of the Textual dashboard."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from etcdplay.agent.options import AgentCaOption, AgentsOption, TokenFileOption
from etcdplay.scenario import Scenario, ScenarioError, from_dict, load

EXIT_BAD_INPUT = 2
MAX_SIZE = 25  # the scenario model's limit
errors = Console(stderr=True, soft_wrap=True)


def _fail(message: str) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(EXIT_BAD_INPUT)


def session_scenario(name: str | None, size: int | None) -> Scenario:
    """The scenario to play: a built-in lesson or file, or a bare cluster of ``size``."""
    if name is None:
        return from_dict({"name": "terminal", "cluster": {"size": 3 if size is None else size}}, "--size")
    scenario = load(name)
    if size is None or size == scenario.cluster.size:
        return scenario
    data = scenario.to_dict()
    data["cluster"]["size"] = size
    return from_dict(data, f"{name} with --size {size}")


def terminal(
    scenario: Annotated[
        str | None,
        typer.Option("--scenario", help="play a built-in lesson (see 'etcdplay scenarios') or a .toml file"),
    ] = None,
    live: Annotated[bool, typer.Option("--live", help="real etcd members instead of the simulator")] = False,
    size: Annotated[int | None, typer.Option("--size", help="number of members (default 3)")] = None,
    seed: Annotated[int | None, typer.Option(help="simulator seed (default: random)")] = None,
    speed: Annotated[
        float | None, typer.Option(help="simulated seconds per wall second (default 1; simulator only)")
    ] = None,
    etcd: Annotated[
        str | None,
        typer.Option(
            "--etcd-bin", help="etcd binary for --live (default: $ETCDPLAY_ETCD_BIN, then etcd on PATH)"
        ),
    ] = None,
    fps: Annotated[float, typer.Option(help="redraws per second")] = 10.0,
    agents: AgentsOption = None,
    token_file: TokenFileOption = None,
    agent_ca: AgentCaOption = None,
) -> None:
    """Play with a cluster in the terminal: kill, partition, heal, stress, put/get (Textual UI)."""
    if live and speed is not None:
        raise _fail("--speed: real etcd runs in real time (simulator only)")
    if speed is not None and not 0.001 <= speed <= 1000:
        raise _fail(f"--speed {speed:g}: use a value from 0.001 to 1000 (1 = real time)")
    if size is not None and not 1 <= size <= MAX_SIZE:
        raise _fail(f"--size {size}: use 1 to {MAX_SIZE} members")
    if not 1 <= fps <= 60:
        raise _fail(f"--fps {fps:g}: use a value from 1 to 60")
    try:
        sc = session_scenario(scenario, size)
    except ScenarioError as exc:
        raise _fail("; ".join(line.strip() for line in str(exc).splitlines())) from None
    from etcdplay.agent.options import agent_options, live_backend_factory, refuse_local_flags
    from etcdplay.backend import BackendError

    try:
        remote = agent_options(agents, token_file, agent_ca)
        refuse_local_flags(remote, **{"--etcd-bin": etcd})
    except BackendError as exc:
        raise _fail(str(exc)) from None
    if remote is not None and not live:
        raise _fail("--agents: members on agents are real etcd; add --live")
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise _fail("etcdplay terminal needs an interactive terminal (try 'etcdplay simulate' for scripts)")

    from etcdplay.play import PlaySession, SessionError
    from etcdplay.terminal.app import TerminalApp

    factory = live_backend_factory(remote, etcd) if remote is not None else None
    session = PlaySession(
        sc, live=live, seed=seed, speed=speed or 1.0, etcd_bin=etcd, backend_factory=factory
    )
    try:
        try:
            if live:
                with errors.status(f"starting {sc.cluster.size} etcd members..."):
                    session.start()
            else:
                session.start()
        except (BackendError, SessionError, OSError) as exc:
            raise _fail(str(exc)) from None
        TerminalApp(session, fps=fps).run()
    finally:
        # q, Ctrl-C or a crash: every member started is stopped, temp data removed
        session.close()
