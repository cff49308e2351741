"""``etcdplay web``: play with a cluster in the browser (registered in ``etcdplay.cli``).

The simulator in real time by default, real etcd members with ``--live``, or
a recorded trace with ``--trace``. Binds 127.0.0.1; ``--host`` exposes it
(with a warning) and then requires the token printed in the URL. Ctrl-C or
SIGTERM stops the server and every etcd member it started, and removes
their temporary data.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
import time
import webbrowser
from pathlib import Path
from typing import Annotated, Any

import typer

from etcdplay.agent.options import AgentCaOption, AgentsOption, TokenFileOption
from etcdplay.backend import BackendError

DEFAULT_SIZE = 5


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (``port`` 0: any free port); OSError names the problem."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def build_source(
    scenario: str | None,
    size: int | None,
    speed: float,
    seed: int | None,
    live: bool,
    trace: Path | None,
    etcd_bin: str | None,
    backend_factory: Any = None,
) -> Any:
    """The session (or trace player) the page will show, started. Raises
    ``BadInput`` for what the user must change."""
    from etcdplay.play import PlaySession, SessionError
    from etcdplay.scenario import ScenarioError, from_dict, load
    from etcdplay.trace import TraceError
    from etcdplay.web.replay import TracePlayer
    from etcdplay.web.source import SessionSource

    if not 0.001 <= speed <= 1000:
        raise BadInput("--speed must be from 0.001 to 1000 (1 = real time)")
    if trace is not None:
        if live or scenario or size is not None or seed is not None:
            raise BadInput(
                "--trace replays a recorded run: give no --live, --scenario, --size or --seed with it"
            )
        try:
            player = TracePlayer(trace, speed=speed)
        except TraceError as exc:
            raise BadInput(str(exc)) from None
        player.start()
        return player
    try:
        if scenario:
            sc = load(scenario)
        else:
            sc = from_dict(
                {"name": "playground", "cluster": {"size": DEFAULT_SIZE if size is None else size}}, "--size"
            )
        if size is not None and scenario:
            data = sc.to_dict()
            data.setdefault("cluster", {})["size"] = size
            sc = from_dict(data, f"{scenario} with --size {size}")
    except ScenarioError as exc:
        raise BadInput(str(exc)) from None
    # a simulated lesson waits, paused at t = 0, for its first tab (SessionSource)
    lesson = bool(sc.steps) and not live
    try:
        session = PlaySession(
            sc,
            live=live,
            seed=seed,
            speed=speed,
            etcd_bin=etcd_bin,
            backend_factory=backend_factory,
            start_paused=lesson,
        )
    except SessionError as exc:
        raise BadInput(str(exc)) from None
    try:
        session.start()
    except BackendError as exc:
        session.close()
        raise BadInput(str(exc)) from None
    except BaseException:
        session.close()
        raise
    return SessionSource(session, start_on_view=lesson)


class BadInput(ValueError):
    """Something the user must change; one line, exit status 2."""


def web(
    scenario: Annotated[
        str | None, typer.Option("--scenario", help="a lesson: built-in name or scenario .toml file")
    ] = None,
    size: Annotated[int | None, typer.Option(help=f"number of members (default {DEFAULT_SIZE})")] = None,
    speed: Annotated[
        float,
        typer.Option(help="simulated seconds per real second (0.25: slow motion; simulator and --trace)"),
    ] = 1.0,
    seed: Annotated[
        int | None, typer.Option(help="random seed (default: a new one, shown on the page)")
    ] = None,
    live: Annotated[bool, typer.Option("--live", help="real etcd members on this machine")] = False,
    trace: Annotated[
        Path | None, typer.Option("--trace", help="replay a recorded trace (JSON Lines)")
    ] = None,
    host: Annotated[
        str, typer.Option(help="address to listen on; anything but loopback needs the printed token")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on (0: any free port)")] = 0,
    no_open: Annotated[bool, typer.Option("--no-open", help="do not open a browser")] = False,
    etcd_bin: Annotated[
        str | None,
        typer.Option(
            "--etcd-bin", help="etcd binary for --live (default: $ETCDPLAY_ETCD_BIN, then etcd on PATH)"
        ),
    ] = None,
    agents: AgentsOption = None,
    token_file: TokenFileOption = None,
    agent_ca: AgentCaOption = None,
) -> None:
    """Play with a Raft cluster in the browser: simulated (default), real etcd (--live) or a trace."""
    from etcdplay.agent.options import agent_options, live_backend_factory, refuse_local_flags
    from etcdplay.cli import errors, fail
    from etcdplay.live.command import _sigterm_as_interrupt
    from etcdplay.web.security import is_loopback, new_token

    try:
        remote = agent_options(agents, token_file, agent_ca)
        refuse_local_flags(remote, **{"--etcd-bin": etcd_bin})
    except BackendError as exc:
        fail(str(exc))
    if remote is not None and not live:
        fail("--agents: members on agents are real etcd; add --live")
    factory = live_backend_factory(remote, etcd_bin) if remote is not None else None
    if not 0 <= port <= 65535:
        fail(f"--port {port}: must be from 0 to 65535")
    try:
        sock = bind(host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            fail(f"--port {port}: already in use on {host} (choose another, or 0 for any free port)")
        fail(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc})")
    token = None
    if not is_loopback(host):
        token = new_token()
        errors.print(
            f"[bold yellow]warning:[/] listening on {host}, beyond this machine: anyone who can reach it "
            "and has the token can kill members and read and write keys.",
            highlight=False,
        )
    what = "a recorded trace" if trace else ("real etcd members" if live else "the simulator")
    errors.print(f"starting {what}...", highlight=False)
    try:
        with _sigterm_as_interrupt():
            source = build_source(scenario, size, speed, seed, live, trace, etcd_bin, factory)
    except BadInput as exc:
        sock.close()
        fail(str(exc))
    except KeyboardInterrupt:
        sock.close()
        errors.print("interrupted: every etcd member stopped", highlight=False)
        raise typer.Exit(130) from None
    try:
        # uvicorn stops on Ctrl-C/SIGTERM, then raises the signal again once
        # it is done: as KeyboardInterrupt here (SIGTERM too), so the cluster
        # is always closed below.
        with _sigterm_as_interrupt():
            serve(source, sock, host, token, open_browser=not no_open)
    except KeyboardInterrupt:
        pass
    finally:
        source.close()
        sock.close()
    errors.print("stopped" + (": every etcd member stopped, temporary data removed" if live else ""))


def page_url(host: str, port: int, token: str | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):
        shown = socket.gethostname()
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def lan_address() -> str | None:
    """This machine's IPv4 address on its default route, if it has one (a UDP
    socket is connected, no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.123", 9))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def serve(source: Any, sock: socket.socket, host: str, token: str | None, open_browser: bool) -> None:
    """Run the server until Ctrl-C or SIGTERM (uvicorn handles both)."""
    import uvicorn

    from etcdplay.web.app import create_app
    from etcdplay.web.hub import Hub
    from etcdplay.web.security import WILDCARD_HOSTS, allowed_hosts

    port = sock.getsockname()[1]
    everywhere = port if host in WILDCARD_HOSTS else None
    app = create_app(Hub(source), allowed_hosts(host, port), token, any_address_port=everywhere)
    config = uvicorn.Config(
        app, log_level="warning", ws_max_size=4 << 20, timeout_graceful_shutdown=3, lifespan="on"
    )
    server = uvicorn.Server(config)
    url = page_url(host, port, token)
    printed = url
    lan = lan_address() if host in WILDCARD_HOSTS else None
    if lan is not None:
        # the machine's name may mean nothing to another machine: its address too
        printed += f" (or {page_url(lan, port, token)})"

    def announce() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            print(f"etcdplay web: {printed}   (Ctrl-C stops)", flush=True)
            if open_browser:
                with contextlib.suppress(Exception):
                    webbrowser.open(url)

    threading.Thread(target=announce, name="etcdplay-web-announce", daemon=True).start()
    server.run(sockets=[sock])
