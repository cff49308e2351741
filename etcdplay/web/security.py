"""Who may talk to the web server: its own page, and nobody else.

A server on localhost that can kill etcd members is a target for any web page
the user visits: that page can make the browser send requests to
``127.0.0.1:PORT`` (CSRF) or point its own host name at 127.0.0.1 (DNS
rebinding). ``Guard`` refuses both: the ``Host`` header must name this server,
an ``Origin`` (always sent by browsers on WebSocket handshakes) must be this
server's own, and once the server is exposed beyond loopback every request
must carry the token printed at start (as ``?token=`` on the first page load,
then as a cookie the server sets).
"""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import socket
from collections.abc import Iterable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

TOKEN_COOKIE = "etcdplay_token"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
#: Bind addresses that mean every interface of this machine.
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_NAMES or host.startswith("127.")


def _with_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def allowed_hosts(bind_host: str, port: int) -> set[str]:
    """The ``Host`` header values that name this server."""
    names = set(LOOPBACK_NAMES)
    names.add(bind_host)
    if bind_host in WILDCARD_HOSTS:
        # Bound to every interface: the machine's own names and addresses.
        hostname = socket.gethostname()
        names.update({hostname, socket.getfqdn()})
        with contextlib.suppress(OSError):
            names.update(str(info[4][0]) for info in socket.getaddrinfo(hostname, None))
    return {_with_port(str(n), port) for n in names if n}


def is_local_address(address: str) -> bool:
    """Whether ``address`` (an IP literal) is one of this machine's own: a
    socket can be bound to it. (The machine's name often resolves only to
    127.0.1.1, so its LAN addresses cannot be listed from it.)"""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((str(ip), 0))
        except OSError:
            return False
    return True


def new_token() -> str:
    return secrets.token_urlsafe(24)


class Guard:
    """ASGI middleware: refuses requests whose Host or Origin is not this
    server's own, and (when a token is set) requests without the token.

    ``any_address_port``: the server listens on every interface on this port,
    so a Host that is any of this machine's IP addresses (with the port) is
    its own too: another machine reaches it by the LAN address.
    """

    def __init__(
        self,
        app: ASGIApp,
        hosts: Iterable[str],
        token: str | None = None,
        any_address_port: int | None = None,
    ) -> None:
        self.app = app
        self.hosts = {h.lower() for h in hosts}
        self.token = token
        self.any_address_port = any_address_port
        self._local: dict[str, bool] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        problem = self.problem(scope)
        if problem is None:
            await self.app(scope, receive, send)
            return
        status, reason = problem
        if scope["type"] == "websocket":
            # Closing before accepting makes the server answer the handshake
            # with 403: the page sees a refused connection.
            await send({"type": "websocket.close", "code": 1008, "reason": reason})
            return
        body = (reason + "\n").encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", b"%d" % len(body)),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def problem(self, scope: Scope) -> tuple[int, str] | None:
        """Why this request is refused (status, reason), or None."""
        headers = _headers(scope)
        host = headers.get("host", "").lower()
        if not self._ours(host):
            return 403, f"refused: Host {host or '(none)'!r} is not this server"
        origin = headers.get("origin")
        if scope["type"] == "websocket" and origin is None:
            return 403, "refused: a WebSocket without an Origin"
        if origin is not None and not (
            origin.lower().startswith("http://") and self._ours(origin.lower()[7:])
        ):
            return 403, f"refused: Origin {origin!r} is not this server's page"
        if self.token is not None and not self._has_token(scope, headers):
            return 401, "refused: this server needs its token (open the URL etcdplay web printed)"
        return None

    def _ours(self, host: str) -> bool:
        """Whether a ``Host`` value (``name:port``) names this server."""
        if host in self.hosts:
            return True
        if self.any_address_port is None:
            return False
        address, _, port = host.rpartition(":")
        if port != str(self.any_address_port):
            return False
        address = address[1:-1] if address.startswith("[") and address.endswith("]") else address
        if address not in self._local:
            if len(self._local) > 256:  # answers to odd Host headers are not kept forever
                self._local.clear()
            self._local[address] = is_local_address(address)
        return self._local[address]

    def _has_token(self, scope: Scope, headers: dict[str, str]) -> bool:
        assert self.token is not None
        given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [])
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed cookie header is no token
            cookie = SimpleCookie()
        if TOKEN_COOKIE in cookie:
            given.append(cookie[TOKEN_COOKIE].value)
        return any(secrets.compare_digest(g.encode(), self.token.encode()) for g in given)


def _headers(scope: Scope) -> dict[str, str]:
    raw: Any = scope.get("headers", [])
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}
