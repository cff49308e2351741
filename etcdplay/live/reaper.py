"""Nothing outlives etcdplay, even a SIGKILL of etcdplay itself.

A normal exit, an error, Ctrl-C and SIGTERM all stop the members and remove
the run's directory in-process (``LiveBackend.close``, an ``atexit`` hook).
A SIGKILL (or an OOM kill) runs none of that, and etcd members run in their
own sessions, so they would keep running with their ports and data.

The reaper is a small process started with the first member. It holds the
read end of a pipe whose write end only etcdplay holds; etcdplay tells it,
one line at a time, which member PIDs and directories are live. When the
pipe reaches end-of-file without a ``bye``, etcdplay is gone without
cleaning up: the reaper kills the members still listed and removes the
directories, then exits. (Linux's PR_SET_PDEATHSIG cannot do this: it fires
when the *thread* that started a child exits, and members are started from
worker threads.)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


class Reaper:
    """The etcdplay side: start the reaper once, then tell it what is live."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._write: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def _send(self, line: str) -> None:
        with self._lock:
            if self._write is None:
                read, write = os.pipe()  # not inherited by anything else we start
                try:
                    self._proc = subprocess.Popen(
                        [sys.executable, "-m", "etcdplay.live.reaper"],
                        stdin=read,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        start_new_session=True,  # a Ctrl-C is for etcdplay, which cleans up itself
                        close_fds=True,
                    )
                finally:
                    os.close(read)
                self._write = write
            with contextlib.suppress(OSError):  # the reaper died: nothing to tell
                os.write(self._write, (line + "\n").encode())

    def watch_pid(self, pid: int) -> None:
        self._send(f"pid {pid}")

    def forget_pid(self, pid: int) -> None:
        self._send(f"-pid {pid}")

    def watch_dir(self, path: Path) -> None:
        self._send(f"dir {path}")

    def forget_dir(self, path: Path) -> None:
        self._send(f"-dir {path}")

    def close(self) -> None:
        """etcdplay is exiting normally: the reaper leaves everything alone."""
        with self._lock:
            if self._write is None:
                return
            with contextlib.suppress(OSError):
                os.write(self._write, b"bye\n")
            os.close(self._write)
            self._write = None
            if self._proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(timeout=5)


REAPER = Reaper()


def _is_etcd(pid: int) -> bool:
    """Still an etcd process (not a reused PID)?"""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"etcd" in cmdline.split(b"\0", 1)[0]


def main() -> None:
    pids: set[int] = set()
    dirs: set[str] = set()
    for raw in sys.stdin.buffer:
        line = raw.decode(errors="replace").rstrip("\n")
        verb, _, arg = line.partition(" ")
        if verb == "bye":
            return
        if verb == "pid":
            pids.add(int(arg))
        elif verb == "-pid":
            pids.discard(int(arg))
        elif verb == "dir":
            dirs.add(arg)
        elif verb == "-dir":
            dirs.discard(arg)
    # end of file without "bye": etcdplay died without cleaning up
    for pid in pids:
        if _is_etcd(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    # a member must be gone before its data directory can be removed whole
    deadline = time.monotonic() + 5.0
    while any(_is_etcd(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    for path in dirs:
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
