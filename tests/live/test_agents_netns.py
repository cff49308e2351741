"""Agents on separate network stacks: three Linux network namespaces on one
bridge, an agent in each on its own address, the controller outside. Needs
root and `ip netns`; skipped otherwise, with the reason."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from etcdplay.agent.options import AgentOptions
from etcdplay.live.backend import LiveBackend
from etcdplay.runner import make_header, run_scenario
from etcdplay.scenario import from_dict, load_builtin
from etcdplay.trace import TraceWriter

from .agents import make_token, start_agent, wait_for
from .conftest import ETCD_34, compress

pytestmark = [pytest.mark.live, pytest.mark.slow]


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False, timeout=30)


def _why_not() -> str | None:
    if not Path(ETCD_34).exists():
        return "no /usr/bin/etcd"
    if shutil.which("ip") is None:
        return "no `ip` command"
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"ep11p{secrets.token_hex(2)}"
    made = _ip("netns", "add", probe)
    if made.returncode != 0:
        return f"`ip netns add` does not work here: {made.stderr.strip()}"
    _ip("netns", "del", probe)
    return None


def _tcp_probe(from_ns: str, to: tuple[str, str]) -> str | None:
    """Can a socket in ``from_ns`` connect to a listener in namespace ``to``?"""
    to_ns, address = to
    listener = subprocess.Popen(
        ["ip", "netns", "exec", to_ns, sys.executable, "-c",
         "import socket,sys; s=socket.create_server((sys.argv[1], 7011)); print('up', flush=True); "
         "s.settimeout(20); s.accept()", address],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert listener.stdout is not None
        if listener.stdout.readline().strip() != "up":
            return "no listener"
        dial = subprocess.run(
            ["ip", "netns", "exec", from_ns, sys.executable, "-c",
             "import socket,sys; socket.create_connection((sys.argv[1], 7011), timeout=5)", address],
            capture_output=True, text=True, check=False, timeout=30,
        )  # fmt: skip
        return None if dial.returncode == 0 else dial.stderr.strip()[-200:]
    finally:
        listener.kill()
        listener.wait(10)


@pytest.fixture
def namespaces() -> Iterator[list[tuple[str, str]]]:
    """Three namespaces on one bridge: [(namespace, address)]."""
    why = _why_not()
    if why is not None:
        pytest.skip(why)
    tag = secrets.token_hex(2)
    subnet = f"10.231.{secrets.randbelow(200) + 20}"
    bridge = f"ep11b{tag}"
    made: list[str] = []
    out: list[tuple[str, str]] = []
    try:
        for cmd in (
            ["link", "add", bridge, "type", "bridge"],
            ["addr", "add", f"{subnet}.1/24", "dev", bridge],
            ["link", "set", bridge, "up"],
        ):
            assert _ip(*cmd).returncode == 0, cmd
        for i in range(3):
            ns, host_end, ns_end, address = (
                f"ep11-{tag}-{i}",
                f"ep11h{tag}{i}",
                f"ep11n{tag}{i}",
                f"{subnet}.{10 + i}",
            )
            assert _ip("netns", "add", ns).returncode == 0
            made.append(ns)
            for cmd in (
                ["link", "add", host_end, "type", "veth", "peer", "name", ns_end],
                ["link", "set", ns_end, "netns", ns],
                ["link", "set", host_end, "master", bridge],
                ["link", "set", host_end, "up"],
                ["netns", "exec", ns, "ip", "addr", "add", f"{address}/24", "dev", ns_end],
                ["netns", "exec", ns, "ip", "link", "set", ns_end, "up"],
                ["netns", "exec", ns, "ip", "link", "set", "lo", "up"],
            ):
                result = _ip(*cmd)
                assert result.returncode == 0, (cmd, result.stderr)
            out.append((ns, address))
        why_not = _tcp_probe(out[0][0], out[1])
        if why_not is not None:
            pytest.skip(f"namespaces on a bridge cannot reach each other here: {why_not}")
        yield out
    finally:
        for ns in made:
            _ip("netns", "del", ns)  # takes its veth ends with it
        _ip("link", "del", bridge)


def test_partition_across_network_namespaces(tmp_path: Path, namespaces: list[tuple[str, str]]) -> None:
    token = make_token(tmp_path / "token")
    started = []
    try:
        for i, (ns, address) in enumerate(namespaces):
            started.append(
                start_agent(
                    tmp_path / f"agent{i}",
                    "--token-file",
                    str(token),
                    listen=f"{address}:9027",
                    prefix=["ip", "netns", "exec", ns],
                )
            )
        for agent in started:
            agent.wait_listening()
        options = AgentOptions(tuple(a.address for a in started), token.read_text().strip())
        data = compress(load_builtin("partition-leader"), 0.5, size=3).to_dict()
        data["cluster"].update(heartbeat_ms=25, election_timeout_ms=250)
        sc = from_dict(data, "netns").expanded(3)
        backend = LiveBackend(agents=options)
        result = run_scenario(
            sc, backend, 3, TraceWriter(make_header(sc, 3, "live", **backend.header_fields()))
        )
        failed = [f"{c.name}: {c.detail}" for c in result.checks if not c.ok]
        assert not failed, failed
        # Each member served from its own namespace's address.
        assert sorted(m.client_endpoint[0] for m in backend.members) == sorted(a for _n, a in namespaces)
    finally:
        for agent in started:
            agent.stop()
    for agent in started:
        assert wait_for(lambda a=agent: not a.etcd_pids(), 20)
