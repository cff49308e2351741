"""The fault proxies run in a child process, and never outlive the controller."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from etcdplay.live.proxyproc import ProxyProcess, ProxyProcessError

ROOT = Path(__file__).resolve().parents[2]


def _listening_inode(port: int) -> str:
    """The socket inode listening on 127.0.0.1:port (from /proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], fields[9]
        if state == "0A" and int(local.split(":")[1], 16) == port:
            return inode
    raise AssertionError(f"nothing listens on port {port}")


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _wait_exit(pid: int, timeout: float = 10.0) -> bool:
    """Whether process ``pid`` (not necessarily our child) exits within ``timeout``."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([pidfd], [], [], timeout)  # readable once it has exited
        return bool(readable)
    finally:
        os.close(pidfd)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_proxies_listen_in_a_child_process_that_ignores_ctrl_c_and_exits_on_close() -> None:
    hub = ProxyProcess(seed=1)
    try:
        port = hub.add("b", 1).port  # bound here, passed to the child, not waited for
        assert hub.connection_count() == 0  # answered: the child runs and holds the socket
        assert hub.pid != os.getpid() and hub.process.poll() is None
        assert "etcdplay.live.proxyproc" in Path(f"/proc/{hub.pid}/cmdline").read_text()
        inode = _listening_inode(port)
        assert inode in _socket_inodes(hub.pid) and inode not in _socket_inodes(os.getpid())
        # Its own process group: a terminal's Ctrl-C does not reach it; SIGINT sent
        # straight to it is ignored, and it still answers.
        assert os.getpgid(hub.pid) != os.getpgid(0)
        os.kill(hub.pid, signal.SIGINT)
        assert hub.blocked("a", "b") is False and hub.process.poll() is None
    finally:
        hub.close()
    assert hub.process.returncode == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with pytest.raises(ProxyProcessError, match="after close"):
        hub.learn("a1", "a")


CONTROLLER = """
import sys, threading
from etcdplay.live.proxyproc import ProxyProcess
hubs = []
if sys.argv[1] == "thread":  # no PR_SET_PDEATHSIG then: only EOF on the pipe
    worker = threading.Thread(target=lambda: hubs.append(ProxyProcess(1)))
    worker.start()
    worker.join()
else:
    hubs.append(ProxyProcess(1))
hubs[0].add("b", 1)
print(hubs[0].pid, flush=True)
sys.stdin.read()
"""


@pytest.mark.parametrize("started_from", ["main", "thread"])
def test_no_proxy_process_is_left_when_the_controller_is_sigkilled(started_from: str) -> None:
    controller = subprocess.Popen(
        [sys.executable, "-c", CONTROLLER, started_from],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert controller.stdout is not None
    try:
        child = int(controller.stdout.readline())
        assert _wait_exit(child, timeout=0) is False  # running
        controller.kill()
        controller.wait(10)
        assert _wait_exit(child), f"proxy process {child} outlived its SIGKILLed controller"
    finally:
        if controller.poll() is None:
            controller.kill()
            controller.wait(10)


def test_a_dead_proxy_process_is_reported_not_waited_for() -> None:
    hub = ProxyProcess(seed=1)
    hub.add("b", 1)
    hub.process.kill()
    hub.process.wait(10)
    with pytest.raises(ProxyProcessError, match="gone"):
        hub.set_rules({})
    hub.close()  # no error, no wait
    assert hub.process.returncode == -signal.SIGKILL


def test_requests_not_waited_for_leave_nothing_to_pile_up() -> None:
    """learn comes with etcd's log lines (thousands in a sweep): were each answered
    and never read, the answers would fill the socket and block the proxy loop."""
    hub = ProxyProcess(seed=1)
    try:
        hub.add("b", 1)
        flood = threading.Thread(target=lambda: [hub.learn(f"{i:x}", "a") for i in range(50_000)])
        flood.start()
        flood.join(60)
        assert not flood.is_alive(), "learn blocked: the proxy process stopped reading"
        assert hub.connection_count() == 0 and len(hub.ids) == 50_000
    finally:
        hub.close()
