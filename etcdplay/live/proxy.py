"""FaultProxy: partitions and delays on etcd's peer traffic, without root.

Each member advertises a proxy's port as its peer URL, so every byte one
member sends another passes through the proxy in front of the receiver.
Peer traffic is plain HTTP/1.1 (no TLS here). The first request on every
connection carries ``X-Server-From: <member id hex>``, which tells the proxy
in front of member D which member S opened the connection. From then on:

* bytes from the dialer to D (the *request* side) flow S -> D;
* bytes from D back to the dialer (the *response* side) flow D -> S. On a
  raft stream (``GET /raft/stream/...``) the response body is where D's
  messages to S travel, so cutting S <-> D both ways needs the rule applied
  to both directions of the connections in both proxies. One rule table,
  shared by every proxy, does that.

Rules are per ordered pair (src, dst): blackhole, or a delay drawn from a
distribution. With no rule at all, data is written straight through from
``data_received`` (asyncio protocols, no queues, no tasks): the proxy adds
one loop wake-up per chunk and nothing else.

When a blackhole starts, connections already open across the cut stay open
but their bytes in the blocked direction are dropped (as a real partition
would: nothing arrives, nothing is reset). New connections whose request side
is blocked are accepted and held: their bytes are read and dropped, nothing is
forwarded and no answer comes, so the dialer waits as it would for a
black-holed peer instead of reconnecting hundreds of times a second. At heal
every connection that lost bytes or was held is closed, so both ends redial
at once and no stream is left with half a message in it.

Connections without ``X-Server-From`` (version and member discovery) are
cut only when their destination is isolated from every other member.

All proxies share one asyncio event loop: ProxyHub runs it in a background
thread of this process (unit tests, tools); live runs and agents run it in a
child process of its own (etcdplay.live.proxyproc.ProxyProcess), because in the
controller's process every forwarded chunk waited for the GIL behind the log
followers and pollers (docs/live.md, "The fault proxy").
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from etcdplay.distributions import Distribution

_MAX_HEADER = 64 * 1024


@dataclass(frozen=True, slots=True)
class Rule:
    blackhole: bool = False
    delay: Distribution | None = None


class FaultHub(Protocol):
    """What LiveBackend needs from the fault proxies: this process's ProxyHub, or
    the agents' hubs on other machines (etcdplay.agent.remote.RemoteFaults)."""

    bootstrapping: bool

    def learn(self, member_id: str, name: str) -> None: ...

    def set_rules(self, rules: dict[tuple[str, str], Rule]) -> None: ...

    def heal(self) -> None: ...

    def close(self) -> None: ...


def listening_socket(host: str) -> socket.socket:
    """A TCP socket listening on a free port of ``host``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


class ProxyHub:
    """The event loop thread, the rule table and every member's proxy."""

    def __init__(self, seed: int = 0, loop: asyncio.AbstractEventLoop | None = None) -> None:
        # With ``loop`` the caller runs that loop itself (the proxy process) and
        # calls the *_async methods and plain methods from it; no thread here.
        self._loop = loop or asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="etcdplay-proxy", daemon=True)
        self._rng = random.Random(f"proxy:{seed}")
        self.rules: dict[tuple[str, str], Rule] = {}
        self.active = False  # any rule at all: the fast path checks only this
        self.ids: dict[str, str] = {}  # member id (hex) -> name
        self.proxies: dict[str, FaultProxy] = {}
        # Every member of the cluster, when this hub fronts only some of them
        # (an agent's): who counts as "every other member" for isolation.
        self.peers: set[str] = set()
        self.links: set[_Link] = set()
        self._started = False
        self.bytes_dropped = 0
        self.held = 0  # connections accepted across a cut and held
        # While a new cluster boots, every member asks every peer for its member
        # list (GET /members, 1 s timeout each) to see whether it was already
        # bootstrapped; peers that listen but do not serve yet make a 5-member
        # start take 4 s. Nobody is bootstrapped yet, so answering at once
        # (closing the connection) gives the same outcome without the wait.
        self.bootstrapping = False

    # lifecycle -------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def start(self) -> None:
        if not self._started:
            self._thread.start()
            self._started = True

    def call(self, fn: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run ``fn`` on the loop thread and return its result."""
        if not self._started:
            return fn()
        future: Future[Any] = Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout)

    def add(
        self, name: str, target_port: int, host: str = "127.0.0.1", target_host: str | None = None
    ) -> FaultProxy:
        """A proxy for member ``name`` forwarding to ``target_port``; it listens
        at once on a free port (``proxy.port``) on ``host``."""
        self.start()
        return asyncio.run_coroutine_threadsafe(
            self.add_async(name, target_port, host, target_host), self._loop
        ).result(10)

    async def add_async(
        self,
        name: str,
        target_port: int,
        host: str = "127.0.0.1",
        target_host: str | None = None,
        sock: socket.socket | None = None,
    ) -> FaultProxy:
        """``add``, on the loop itself; ``sock``: a socket already listening on
        ``host`` (the proxy process gets its sockets from its parent)."""
        if sock is None:
            sock = listening_socket(host)
        sock.setblocking(False)
        proxy = FaultProxy(self, name, target_host or host, target_port, sock)
        await proxy._serve()
        self.proxies[name] = proxy
        return proxy

    async def close_async(self) -> None:
        """Abort every connection and close every listening port, on the loop."""
        for link in list(self.links):
            link.close()
        for proxy in self.proxies.values():
            if proxy.server is not None:
                proxy.server.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(proxy.server.wait_closed(), 2)

    def close(self) -> None:
        if not self._started:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.close_async(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        with contextlib.suppress(Exception):
            self._loop.close()
        self._started = False

    # rules -----------------------------------------------------------------

    def learn(self, member_id: str, name: str) -> None:
        self.ids[member_id.lower()] = name

    def set_rules(self, rules: dict[tuple[str, str], Rule]) -> None:
        """Replace the whole rule table (thread-safe) and act on open connections."""

        def apply() -> None:
            self.rules = {k: v for k, v in rules.items() if v.blackhole or v.delay is not None}
            self.active = bool(self.rules)
            for link in list(self.links):
                link.reconsider()

        self.call(apply)  # on a loop run by the caller (not started): directly

    def heal(self) -> None:
        self.set_rules({})

    def rule(self, src: str | None, dst: str) -> Rule | None:
        if src is None:
            return Rule(blackhole=True) if self._isolated(dst) else None
        return self.rules.get((src, dst))

    def blocked(self, src: str | None, dst: str) -> bool:
        rule = self.rule(src, dst)
        return rule is not None and rule.blackhole

    def _isolated(self, dst: str) -> bool:
        others = [n for n in (self.peers or self.proxies) if n != dst]
        return bool(others) and all(
            (r := self.rules.get((o, dst))) is not None and r.blackhole for o in others
        )

    def sample(self, dist: Distribution) -> float:
        return dist.sample(self._rng)

    def connection_count(self) -> int:
        return int(self.call(lambda: len(self.links)))


class FaultProxy:
    """The proxy in front of one member's peer port."""

    def __init__(self, hub: ProxyHub, name: str, host: str, target_port: int, sock: socket.socket) -> None:
        self.hub = hub
        self.name = name
        self.host = host
        self.target_port = target_port
        self.sock = sock
        self.port = int(sock.getsockname()[1])
        self.server: asyncio.AbstractServer | None = None

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: _Downstream(self), sock=self.sock)


class _Pipe:
    """One direction of one connection: ordering, delay and blackhole."""

    __slots__ = ("closing", "last_at", "link", "out", "queue", "src_is_dialer", "timer")

    def __init__(self, link: _Link, src_is_dialer: bool) -> None:
        self.link = link
        self.src_is_dialer = src_is_dialer
        self.out: asyncio.Transport | None = None
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.timer: asyncio.TimerHandle | None = None
        self.last_at = 0.0
        self.closing = False

    def _rule(self) -> Rule | None:
        link = self.link
        link.resolve()
        hub, target = link.proxy.hub, link.proxy.name
        if link.src is None:
            return hub.rule(None, target)
        if self.src_is_dialer:
            return hub.rule(link.src, target)
        return hub.rule(target, link.src)

    def send(self, data: bytes) -> None:
        hub = self.link.proxy.hub
        if not hub.active and not self.queue:
            if self.out is not None:
                self.out.write(data)
            return
        rule = self._rule()
        if rule is not None and rule.blackhole:
            hub.bytes_dropped += len(data)
            self.link.tainted = True
            return
        delay = hub.sample(rule.delay) if rule is not None and rule.delay is not None else 0.0
        if delay <= 0 and not self.queue:
            if self.out is not None:
                self.out.write(data)
            return
        loop = asyncio.get_running_loop()
        at = max(loop.time() + delay, self.last_at)
        self.last_at = at
        self.queue.append((at, data))
        if self.timer is None:
            self.timer = loop.call_at(at, self._flush)

    def _flush(self) -> None:
        self.timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        hub = self.link.proxy.hub
        while self.queue and self.queue[0][0] <= now + 0.0002:
            _at, data = self.queue.popleft()
            rule = self._rule()
            if rule is not None and rule.blackhole:
                hub.bytes_dropped += len(data)
                self.link.tainted = True
            elif self.out is not None:
                self.out.write(data)
        if self.queue:
            self.timer = loop.call_at(self.queue[0][0], self._flush)
        elif self.closing and self.out is not None:
            self.out.close()

    def finish(self) -> None:
        """The sending side closed: close the other side once queued data is out."""
        if self.queue:
            self.closing = True
        elif self.out is not None:
            self.out.close()

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.queue.clear()


class _Link:
    """One proxied TCP connection: the dialer's side and the member's side."""

    def __init__(self, proxy: FaultProxy, down: _Downstream) -> None:
        self.proxy = proxy
        self.down = down
        self.up: _Upstream | None = None
        self.src: str | None = None  # the dialing member's name, once known
        self.src_id: str | None = None
        self.path = ""
        self.tainted = False
        self.identified = False  # first request's headers read
        self.held = False  # accepted across a cut: nothing forwarded
        self.closed = False
        self.to_member = _Pipe(self, src_is_dialer=True)
        self.to_dialer = _Pipe(self, src_is_dialer=False)

    def resolve(self) -> None:
        if self.src is None and self.src_id is not None:
            self.src = self.proxy.hub.ids.get(self.src_id)

    def reconsider(self) -> None:
        """Rules changed: mark what now crosses a cut (its bytes that way are
        dropped from now on); close what lost bytes once no cut remains."""
        self.resolve()
        hub = self.proxy.hub
        target = self.proxy.name
        if not self.identified:
            return  # headers not read yet: judged when they are
        cut = hub.blocked(self.src, target) or (self.src is not None and hub.blocked(target, self.src))
        if cut:
            self.tainted = True
        elif self.tainted:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.to_member.cancel()
        self.to_dialer.cancel()
        if self.down.transport is not None:
            self.down.transport.abort()
        if self.up is not None and self.up.transport is not None:
            self.up.transport.abort()
        self.proxy.hub.links.discard(self)


def _header_value(head: bytes, name: bytes) -> str | None:
    for line in head.split(b"\r\n")[1:]:
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == name:
            return value.strip().decode("latin-1")
    return None


class _Downstream(asyncio.Protocol):
    """The side facing the dialing member."""

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        self.transport: asyncio.Transport | None = None
        self.link = _Link(proxy, self)
        self._head = b""
        self._pending: list[bytes] = []
        self._ready = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.link.to_dialer.out = transport
        self.proxy.hub.links.add(self.link)

    def data_received(self, data: bytes) -> None:
        if self._ready:
            self.link.to_member.send(data)
            return
        if self.link.held:
            self.proxy.hub.bytes_dropped += len(data)
            return
        if self.link.up is not None or self._head is None:
            self._pending.append(data)  # upstream still connecting
            return
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0 and len(self._head) < _MAX_HEADER:
            return
        head, self._head = self._head, None  # type: ignore[assignment]
        link = self.link
        sender = _header_value(head[: end if end >= 0 else len(head)], b"x-server-from")
        if sender:
            link.src_id = sender.lower()
            link.resolve()
        first_line = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")
        link.path = first_line.split(" ")[1] if " " in first_line else ""
        link.identified = True
        hub = self.proxy.hub
        if hub.bootstrapping and link.path == "/members" and first_line.startswith("GET "):
            link.close()
            return
        if hub.blocked(link.src, self.proxy.name):
            hub.held += 1
            hub.bytes_dropped += len(head)
            link.held = link.tainted = True
            return
        self._pending.append(head)
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _transport, up = await loop.create_connection(
                lambda: _Upstream(self.link), self.proxy.host, self.proxy.target_port
            )
        except OSError:
            self.link.close()  # the member is down: the dialer sees a reset
            return
        if self.link.closed:
            if up.transport is not None:
                up.transport.abort()
            return
        self.link.up = up
        self.link.to_member.out = up.transport
        self._ready = True
        pending, self._pending = self._pending, []
        for chunk in pending:
            self.link.to_member.send(chunk)

    def connection_lost(self, exc: Exception | None) -> None:
        self.link.to_member.finish()
        self.proxy.hub.links.discard(self.link)

    def pause_writing(self) -> None:
        if self.link.up is not None and self.link.up.transport is not None:
            self.link.up.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.link.up is not None and self.link.up.transport is not None:
            self.link.up.transport.resume_reading()


class _Upstream(asyncio.Protocol):
    """The side facing the member the proxy stands in front of."""

    def __init__(self, link: _Link) -> None:
        self.link = link
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.link.to_dialer.send(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.link.to_dialer.finish()

    def pause_writing(self) -> None:
        if self.link.down.transport is not None:
            self.link.down.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.link.down.transport is not None:
            self.link.down.transport.resume_reading()
