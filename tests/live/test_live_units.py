"""Pieces of the live backend that need no etcd: log parsing and the proxy."""

from __future__ import annotations

import socket
import statistics
import threading
import time

import pytest

from etcdplay.distributions import Distribution
from etcdplay.live.client import _prefix_end
from etcdplay.live.observe import parse_line
from etcdplay.live.proxy import ProxyHub, Rule
from etcdplay.live.proxyproc import ProxyProcess

V34 = '{"level":"info","ts":"2024-01-02T03:04:05.678Z","caller":"raft/raft.go:771","msg":"8e9e05c52164694d became leader at term 7"}'
V35 = '{"level":"info","ts":"2024-01-02T03:04:05.678Z","logger":"raft","caller":"etcdserver/zap_raft.go:77","msg":"raft.node: 8e9e05c52164694d elected leader 91bc3c398fb3c146 at term 7"}'
VOTE = '{"level":"info","ts":"2024-01-02T03:04:05.678Z","msg":"8e9e05c52164694d [logterm: 2, index: 9, vote: 0] cast MsgPreVote for 91bc3c398fb3c146 [logterm: 2, index: 9] at term 2"}'
REJECT = '{"level":"info","ts":"2024-01-02T03:04:05.678Z","msg":"8e9e05c52164694d [logterm: 2, index: 9, vote: 91bc3c398fb3c146] rejected MsgVote from 1 [logterm: 1, index: 3] at term 4"}'
LOST = '{"level":"info","ts":"2024-01-02T03:04:05.678Z","msg":"raft.node: 8e9e05c52164694d lost leader 91bc3c398fb3c146 at term 3"}'
ADDED = '{"level":"info","ts":"2024-01-02T03:04:05.678Z","msg":"added member","added-peer-id":"91bc3c398fb3c146","added-peer-peer-urls":["http://127.0.0.1:4000"]}'


def test_parse_role_leader_vote_lines() -> None:
    role = parse_line(V34)
    assert role is not None and role.kind == "role"
    assert role.fields == {"id": "8e9e05c52164694d", "role": "leader", "term": 7}
    assert role.etcd_ts == "2024-01-02T03:04:05.678Z" and abs(role.ts - 1704164645.678) < 1e-6  # type: ignore[operator]
    leader = parse_line(V35)
    assert leader is not None and leader.fields["leader"] == "91bc3c398fb3c146"
    vote = parse_line(VOTE)
    assert vote is not None and vote.fields["granted"] and vote.fields["pre_vote"]
    reject = parse_line(REJECT)
    assert reject is not None and not reject.fields["granted"] and not reject.fields["pre_vote"]
    assert reject.fields["term"] == 4 and reject.fields["candidate"] == "1"
    lost = parse_line(LOST)
    assert lost is not None and lost.fields["leader"] is None
    added = parse_line(ADDED)
    assert added is not None and added.kind == "peer" and added.fields["urls"] == ["http://127.0.0.1:4000"]
    assert parse_line("not json") is None and parse_line('{"msg":"serving client"}') is None


def test_prefix_end() -> None:
    assert _prefix_end(b"load/") == b"load0"
    assert _prefix_end(b"a\xff") == b"b"


class _Echo:
    """A TCP server answering each chunk with the same bytes (a stand-in member)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)


def _dial(port: int, sender: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=2)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    head = f"GET /raft/stream/message/{sender} HTTP/1.1\r\nHost: x\r\nX-Server-From: {sender}\r\n\r\n"
    sock.sendall(head.encode())
    assert sock.recv(65536).startswith(b"GET /raft/stream")
    return sock


def _round_trip(sock: socket.socket) -> float | None:
    began = time.perf_counter()
    sock.sendall(b"ping")
    try:
        got = sock.recv(100)
    except TimeoutError:
        return None
    assert got == b"ping"
    return time.perf_counter() - began


# In this process's thread (ProxyHub) and in a process of its own (ProxyProcess,
# what live runs and agents use): the same proxy behind the same calls.
HUBS = [pytest.param(ProxyHub, id="thread"), pytest.param(ProxyProcess, id="process")]


@pytest.mark.parametrize("make_hub", HUBS)
def test_proxy_passes_delays_and_blackholes(make_hub: type[ProxyHub | ProxyProcess]) -> None:
    echo = _Echo()
    hub = make_hub(seed=1)
    try:
        proxy = hub.add("b", echo.port)
        hub.learn("a1", "a")
        sock = _dial(proxy.port, "a1")
        plain = statistics.median(_round_trip(sock) for _ in range(50))  # type: ignore[type-var]
        hub.set_rules({("a", "b"): Rule(delay=Distribution.parse("fixed(30)"))})
        delayed = _round_trip(sock)
        assert delayed is not None and delayed >= 0.03 > plain
        # Cut only the response side (b -> a): the connection stays, bytes vanish.
        hub.set_rules({("b", "a"): Rule(blackhole=True)})
        sock.settimeout(0.3)
        assert _round_trip(sock) is None
        assert hub.bytes_dropped >= 4
        # A new connection across a request-side cut is held: nothing answers.
        hub.set_rules({("a", "b"): Rule(blackhole=True)})
        held = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
        held.sendall(b"GET /raft HTTP/1.1\r\nX-Server-From: a1\r\n\r\n")
        held.settimeout(0.3)
        try:
            assert held.recv(10) == b""
            raise AssertionError("a held connection must not answer")
        except TimeoutError:
            pass
        assert hub.held == 1
        # Heal: connections that lost bytes are closed so both ends redial cleanly.
        hub.heal()
        sock.settimeout(2)
        assert sock.recv(100) == b""
        fresh = _dial(proxy.port, "a1")
        assert _round_trip(fresh) is not None
        # Another member's traffic was never affected.
        hub.learn("c1", "c")
        assert _round_trip(_dial(proxy.port, "c1")) is not None
    finally:
        hub.close()
        echo.sock.close()


@pytest.mark.parametrize("make_hub", HUBS)
def test_proxy_fast_path_adds_little(make_hub: type[ProxyHub | ProxyProcess]) -> None:
    echo = _Echo()
    hub = make_hub()
    try:
        proxy = hub.add("b", echo.port)
        direct = socket.create_connection(("127.0.0.1", echo.port))
        direct.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        via = _dial(proxy.port, "a1")
        for sock in (direct, via):
            for _ in range(50):
                _round_trip(sock)
        d = statistics.median(_round_trip(direct) for _ in range(300))  # type: ignore[type-var]
        v = statistics.median(_round_trip(via) for _ in range(300))  # type: ignore[type-var]
        # Per round trip through the proxy (two forwarded chunks): well under a ms.
        assert v - d < 0.001, (d, v)
    finally:
        hub.close()
        echo.sock.close()


def test_member_ports_never_equal_a_proxy_port() -> None:
    """Issue 14, item 11: proxies listen before member ports are picked, so the
    kernel cannot hand a member a proxy's port (64 collisions in 20,000 start-ups
    when members were picked first and proxies bound port 0 afterwards)."""
    from etcdplay.live.etcd import free_port
    from etcdplay.live.proxy import ProxyHub

    hub = ProxyHub(1)
    try:
        proxy_ports = {hub.add(f"n{i}", 0).port for i in range(1, 26)}
        picked = [free_port() for _ in range(5000)]
        assert not proxy_ports & set(picked)
    finally:
        hub.close()
