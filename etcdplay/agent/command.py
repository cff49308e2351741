"""``etcdplay agent``: serve etcd members on this machine to a controller elsewhere.

Registered in ``etcdplay.cli``. Checks everything before it binds (token, TLS
files, the etcd binary, the root directory, the address), then serves the API
of ``etcdplay.agent.server`` with uvicorn until SIGINT/SIGTERM, and on the way
out stops every member it started and removes their data.
"""

from __future__ import annotations

import contextlib
import ipaddress
import shutil
import signal
import socket
import ssl
import tempfile
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from etcdplay.agent.api import HOST_RE

DEFAULT_PORT = 9027
LOOPBACK_NAMES = {"localhost"}
MIN_TOKEN = 16


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) -> (host, port); raises ValueError."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r}: expected HOST:PORT, e.g. 0.0.0.0:{DEFAULT_PORT}")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"{text!r}: the port must be a number 0-65535")
    if not HOST_RE.match(host):
        raise ValueError(f"{text!r}: {host!r} is not a host name or address")
    return host.strip("[]"), int(port_text)


def read_token(path: Path, flag: str = "--token-file") -> str:
    """The shared token in ``path`` (surrounding whitespace ignored); raises ValueError."""
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise ValueError(f"{flag} {path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{flag} {path}: not a text file") from None
    if len(token) < MIN_TOKEN or any(c.isspace() for c in token):
        raise ValueError(
            f"{flag} {path}: the token must be one word of at least {MIN_TOKEN} characters "
            "(e.g. `python3 -c 'import secrets; print(secrets.token_urlsafe(32))' > token`)"
        )
    return token


def _bind(host: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    return sock


def agent(
    listen: Annotated[
        str, typer.Option(help="HOST:PORT to serve on (without --token-file: loopback only)")
    ] = f"127.0.0.1:{DEFAULT_PORT}",
    token_file: Annotated[
        Path | None,
        typer.Option("--token-file", help="file holding the shared token every request must carry"),
    ] = None,
    etcd_bin: Annotated[
        str | None,
        typer.Option(
            "--etcd-bin", help="the one etcd binary this agent runs (default: $ETCDPLAY_ETCD_BIN, then PATH)"
        ),
    ] = None,
    root: Annotated[
        Path | None,
        typer.Option(help="directory for members' data and logs (default: a temp dir, removed at exit)"),
    ] = None,
    advertise: Annotated[
        str | None,
        typer.Option(
            help="address other machines reach this one at (default: the address the controller dialed)"
        ),
    ] = None,
    cert: Annotated[Path | None, typer.Option(help="TLS certificate (PEM); serve HTTPS")] = None,
    key: Annotated[Path | None, typer.Option(help="TLS private key (PEM) for --cert")] = None,
) -> None:
    """Run etcd members on this machine for `etcdplay live/sweep/web --agents` (docs/agent.md)."""
    from etcdplay.backend import BackendError
    from etcdplay.cli import fail
    from etcdplay.live.etcd import find_etcd

    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        fail(f"--listen {exc}")
    if ":" in host:
        fail(f"--listen {listen}: IPv6 addresses are not supported yet; use an IPv4 address or a name")
    token: str | None = None
    if token_file is not None:
        try:
            token = read_token(token_file)
        except ValueError as exc:
            fail(str(exc))
    elif not is_loopback(host):
        fail(
            f"--listen {listen}: without --token-file the agent serves only loopback "
            "(127.0.0.1, ::1, localhost); give --token-file to serve other machines"
        )
    if (cert is None) != (key is None):
        fail("--cert and --key go together")
    for flag, path in (("--cert", cert), ("--key", key)):
        if path is not None and not path.is_file():
            fail(f"{flag} {path}: no such file")
    if cert is not None and key is not None:
        try:  # as uvicorn will load them, but before we say we listen
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
        except (ssl.SSLError, OSError) as exc:
            fail(f"--cert {cert} --key {key}: not a PEM certificate and its private key ({exc})")
    if advertise is not None and not HOST_RE.match(advertise):
        fail(f"--advertise {advertise!r}: not a host name or address")
    try:
        binary = find_etcd(etcd_bin)
    except BackendError as exc:
        fail(str(exc))
    made_root = root is None
    try:
        if root is None:
            root = Path(tempfile.mkdtemp(prefix="etcdplay-agent-"))
        else:
            root.mkdir(parents=True, exist_ok=True)
            root = root.resolve()
    except OSError as exc:
        fail(f"--root {root}: cannot create it ({exc.strerror or exc})")
    try:
        sock = _bind(host, port)
    except OSError as exc:
        if made_root:
            shutil.rmtree(root, ignore_errors=True)
        fail(f"--listen {listen}: cannot listen there ({exc.strerror or exc})")
    _serve(sock, host, binary, root, made_root, token, advertise, cert, key)


@contextlib.contextmanager
def _signals_unwind() -> Iterator[None]:
    """SIGTERM/SIGHUP unwind like Ctrl-C. uvicorn shuts down on them and then
    re-raises the signal it caught; with the default handler that would end the
    process before the agent stops its members."""

    def handler(signum: int, _frame: types.FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _serve(
    sock: socket.socket,
    host: str,
    binary: object,
    root: Path,
    made_root: bool,
    token: str | None,
    advertise: str | None,
    cert: Path | None,
    key: Path | None,
) -> None:
    import uvicorn

    from etcdplay.agent.server import Agent, build_app
    from etcdplay.live.etcd import EtcdBinary
    from etcdplay.live.reaper import REAPER

    assert isinstance(binary, EtcdBinary)
    listen_host = "127.0.0.1" if host.lower() == "localhost" else host
    agent_state = Agent(binary, root, listen_host=listen_host, advertise_host=advertise, token=token)
    app = build_app(agent_state)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        ssl_certfile=str(cert) if cert else None,
        ssl_keyfile=str(key) if key else None,
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(config)
    bound = sock.getsockname()
    scheme = "https" if cert else "http"
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    print(
        f"etcdplay agent listening on {scheme}://{shown}:{bound[1]} "
        f"(etcd {binary.version_text} at {binary.path}; data under {root}; "
        f"{'token required' if token else 'loopback, no token'})",
        flush=True,
    )
    if made_root:
        REAPER.watch_dir(root)  # removed even if the agent is SIGKILLed
    agent_state.start_watchdog()
    try:
        with _signals_unwind():
            server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn shut down and re-raised the signal: clean up below
    finally:
        agent_state.shutdown()
        with contextlib.suppress(OSError):
            sock.close()
        if made_root:
            shutil.rmtree(root, ignore_errors=True)
            REAPER.forget_dir(root)
        REAPER.close()
        print("etcdplay agent stopped: every member it started is stopped", flush=True)
