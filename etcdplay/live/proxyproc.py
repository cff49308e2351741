"""ProxyProcess: the fault proxies (ProxyHub) in a child process of their own.

Why a process: in the controller's process the proxy loop shares the GIL with
the log followers (every etcd log line parsed), the status poller, the gRPC
client threads and the trial logic. Right after a crash all of these are busy
at once, and every forwarded chunk then waits for the GIL: the first vote
round of real etcd took 19-24 ms through the in-process proxy against 4 ms
direct (docs/live.md, "The fault proxy"). Here the loop is the child's only
work.

The child is ``python -m etcdplay.live.proxyproc FD SEED PARENT_PID PDEATH``,
talking over one end of a socketpair (multiprocessing.connection framing,
pickled ``(op, args)`` requests handled in order). A request the parent waits
for is answered ``("ok", result)`` or ``("err", message)``; one it does not
wait for (``add``, ``learn``, ``peers``, ``bootstrapping``) is answered only if
it fails, ``("late", message)``, read before the next answer and raised then.
Unanswered on success because ``learn`` comes with etcd's log lines, thousands
in a sweep: answers nobody reads would fill the socket buffer and then block
the proxy loop on its send.

``add`` binds the listening socket here and passes it to the child
(SCM_RIGHTS), so its port is known at once.

No orphan is left:

* the child exits when the connection reaches EOF: the parent closed it, or
  died (even by SIGKILL: the kernel closes its end);
* where the parent started it from its main thread, PR_SET_PDEATHSIG (SIGKILL)
  as well (it fires when the *thread* that forked exits, so never from
  another thread: an agent's request thread ends long before its run);
* it runs in a process group of its own and ignores SIGINT, so a terminal's
  Ctrl-C reaches only the parent, which tears down and then closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from multiprocessing import reduction
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from etcdplay import native
from etcdplay.live.proxy import ProxyHub, Rule, listening_socket

_PR_SET_PDEATHSIG = 1
_ROOT = Path(__file__).resolve().parents[2]  # the directory holding this etcdplay package


class ProxyProcessError(RuntimeError):
    """The proxy process refused a request, failed or is gone."""


@dataclass(frozen=True, slots=True)
class ProxyPort:
    """Where one member's proxy listens (what ``ProxyHub.add`` returns, by value)."""

    name: str
    port: int


class ProxyProcess:
    """A FaultHub whose proxies run in a child process (same API as ProxyHub)."""

    def __init__(self, seed: int = 0, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self.proxies: dict[str, ProxyPort] = {}
        self._bootstrapping = False
        self._peers: set[str] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._learned: dict[str, str] = {}  # sent already: learn is called per log line
        mine, theirs = socket.socketpair()
        on_main = threading.current_thread() is threading.main_thread()
        env = dict(os.environ)
        # The child imports this very etcdplay (a worktree's, not an installed one).
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH")) if p)
        # No simulator here: skip hashing its sources to pick the compiled core.
        env[native.PURE_ENV] = "1"
        try:
            self.process = subprocess.Popen(
                # -S: no site (its editable-install finder costs ~0.1 s; stdlib only
                # is needed); -P: not the working directory first (it may hold
                # another checkout's etcdplay), PYTHONPATH decides.
                [
                    sys.executable,
                    "-S",
                    "-P",
                    "-m",
                    "etcdplay.live.proxyproc",
                    str(theirs.fileno()),
                    str(seed),
                    str(os.getpid()),
                    "1" if on_main else "0",
                ],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=env,
                process_group=0,
            )
        finally:
            theirs.close()
        self._conn = Connection(mine.detach())
        self.pid = self.process.pid

    # the requests ------------------------------------------------------------

    def _gone(self, exc: BaseException) -> ProxyProcessError:
        return ProxyProcessError(f"proxy process is gone (exit code {self.process.poll()}): {exc}")

    def _send(self, op: str, args: tuple[Any, ...], sock: socket.socket | None = None) -> None:
        """Under the lock."""
        if self._closed:
            raise ProxyProcessError(f"proxy process: {op} after close")
        try:
            self._conn.send((op, args))
            if sock is not None:
                reduction.send_handle(self._conn, sock.fileno(), self.pid)
        except OSError as exc:
            raise self._gone(exc) from None

    def _answer(self, op: str) -> Any:
        """Under the lock: the answer to ``op``, after the failures of requests
        not waited for (raised, with it)."""
        late: list[str] = []
        while True:
            try:
                if not self._conn.poll(self.timeout):
                    raise ProxyProcessError(f"proxy process: no answer to {op} within {self.timeout:g} s")
                status, value = self._conn.recv()
            except (EOFError, OSError) as exc:
                raise self._gone(exc) from None
            if status != "late":
                break
            late.append(str(value))
        if status != "ok":
            late.append(f"{op}: {value}")
        if late:
            raise ProxyProcessError("proxy process: " + "; ".join(late))
        return value

    def _post(self, op: str, *args: Any, sock: socket.socket | None = None) -> None:
        """Send, not waiting: answered only if it fails (raised by the next ``_ask``)."""
        with self._lock:
            self._send(op, args, sock)

    def _ask(self, op: str, *args: Any) -> Any:
        """Send and wait for the answer."""
        with self._lock:
            self._send(op, args)
            return self._answer(op)

    def add(
        self, name: str, target_port: int, host: str = "127.0.0.1", target_host: str | None = None
    ) -> ProxyPort:
        """A proxy for member ``name``, listening from now on: connections wait
        in the backlog until the child serves them."""
        with listening_socket(host) as sock:
            proxy = ProxyPort(name, int(sock.getsockname()[1]))
            self._post("add", name, target_port, host, target_host, sock=sock)
        self.proxies[name] = proxy
        return proxy

    def learn(self, member_id: str, name: str) -> None:
        if self._learned.get(member_id) != name:
            self._post("learn", member_id, name)
            self._learned[member_id] = name

    def set_rules(self, rules: dict[tuple[str, str], Rule]) -> None:
        self._ask("set_rules", dict(rules))

    def heal(self) -> None:
        self.set_rules({})

    @property
    def bootstrapping(self) -> bool:
        return self._bootstrapping

    @bootstrapping.setter
    def bootstrapping(self, value: bool) -> None:
        self._post("bootstrapping", bool(value))
        self._bootstrapping = bool(value)

    @property
    def peers(self) -> set[str]:
        return set(self._peers)

    @peers.setter
    def peers(self, value: set[str]) -> None:
        self._post("peers", set(value))
        self._peers = set(value)

    def blocked(self, src: str | None, dst: str) -> bool:
        return bool(self._ask("blocked", src, dst))

    @property
    def ids(self) -> dict[str, str]:
        return dict(self._ask("ids"))

    @property
    def bytes_dropped(self) -> int:
        return int(self._ask("stats")["bytes_dropped"])

    @property
    def held(self) -> int:
        return int(self._ask("stats")["held"])

    def connection_count(self) -> int:
        return int(self._ask("connection_count"))

    # lifecycle ---------------------------------------------------------------

    def close(self) -> None:
        """Close every proxy and wait for the child to exit (SIGKILL after 5 s)."""
        if self._closed:
            return
        with contextlib.suppress(ProxyProcessError):
            self._ask("close")
        with self._lock:
            self._closed = True
            self._conn.close()  # EOF: the child exits even if "close" went unanswered
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


# the child -------------------------------------------------------------------


def _set_pdeathsig() -> None:
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


async def _serve(conn: Connection, seed: int) -> None:
    loop = asyncio.get_running_loop()
    hub = ProxyHub(seed, loop=loop)
    # One at a time, in order: answers go back in the order asked.
    requests: asyncio.Queue[tuple[str, tuple[Any, ...], socket.socket | None]] = asyncio.Queue()

    def reply(status: str, value: Any) -> None:
        with contextlib.suppress(OSError):
            conn.send((status, value))

    def handle(op: str, args: tuple[Any, ...]) -> Any:
        if op == "learn":
            return hub.learn(*args)
        if op == "set_rules":
            return hub.set_rules(*args)
        if op == "bootstrapping":
            hub.bootstrapping = bool(args[0])
            return None
        if op == "peers":
            hub.peers = set(args[0])
            return None
        if op == "blocked":
            return hub.blocked(*args)
        if op == "ids":
            return dict(hub.ids)
        if op == "stats":
            return {"bytes_dropped": hub.bytes_dropped, "held": hub.held}
        if op == "connection_count":
            return len(hub.links)
        raise ValueError(f"unknown request {op!r}")

    posted = {"add", "learn", "peers", "bootstrapping"}  # answered only on failure

    def readable() -> None:
        sock: socket.socket | None = None
        try:
            op, args = conn.recv()
            if op == "add":  # its listening socket follows the request
                sock = socket.socket(fileno=reduction.recv_handle(conn))
        except (EOFError, OSError):  # the parent closed its end, or died
            op, args = "eof", ()
        if op in ("eof", "close"):
            loop.remove_reader(conn.fileno())
        requests.put_nowait((op, args, sock))

    loop.add_reader(conn.fileno(), readable)
    while True:
        op, args, sock = await requests.get()
        if op in ("eof", "close"):
            break
        try:
            if op == "add":
                name, target_port, host, target_host = args
                value = (await hub.add_async(name, target_port, host, target_host, sock=sock)).port
            else:
                value = handle(op, args)
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
            if op in posted:
                reply("late", f"{op}: {problem}")
            else:
                reply("err", problem)
        else:
            if op not in posted:
                reply("ok", value)
    await hub.close_async()
    if op == "close":
        reply("ok", None)


def main(argv: list[str]) -> int:
    # Ctrl-C is the parent's to handle: it tears down, then closes us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    fd, seed, parent_pid, pdeath = int(argv[0]), int(argv[1]), int(argv[2]), argv[3] == "1"
    if pdeath:
        _set_pdeathsig()
    if os.getppid() != parent_pid:
        return 0  # the parent died before we got here (or before PDEATHSIG was set)
    conn = Connection(fd)
    asyncio.run(_serve(conn, seed))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
