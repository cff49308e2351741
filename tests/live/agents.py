"""Real `etcdplay agent` processes on this machine, for the agent tests."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "ETCDPLAY_PURE_PYTHON": "1"}
_LISTENING = re.compile(r"listening on https?://(\S+?) ")


@dataclass
class AgentProc:
    proc: subprocess.Popen[str]
    root: Path
    address: str = ""
    output: list[str] = field(default_factory=list)
    _lines: queue.Queue[str | None] = field(default_factory=queue.Queue)

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def wait_listening(self, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            if m := _LISTENING.search(line):
                self.address = m.group(1)
                return self.address
        raise AssertionError(f"agent did not start: {''.join(self.output)}")

    def wait_output(self, text: str, timeout: float) -> bool:
        return wait_for(lambda: text in "".join(self.output), timeout)

    def etcd_pids(self) -> list[int]:
        return etcd_under(self.root)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def etcd_under(root: Path) -> list[int]:
    """PIDs of etcd processes whose data dir is under ``root``."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            cmdline = proc.info["cmdline"] or []
            if cmdline and "etcd" in Path(cmdline[0]).name and any(str(root) in a for a in cmdline):
                found.append(proc.pid)
    return found


def make_token(path: Path) -> Path:
    path.write_text(secrets.token_urlsafe(24) + "\n")
    return path


def start_agent(
    root: Path,
    *args: str,
    listen: str = "127.0.0.1:0",
    prefix: Sequence[str] = (),
    etcd_bin: str = "/usr/bin/etcd",
) -> AgentProc:
    root.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            *prefix,
            sys.executable,
            "-m",
            "etcdplay",
            "agent",
            "--listen",
            listen,
            "--root",
            str(root),
            "--etcd-bin",
            etcd_bin,
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=ENV,
        cwd=ROOT,
    )
    agent = AgentProc(proc, root)
    threading.Thread(target=agent._pump, daemon=True).start()
    return agent


@contextlib.contextmanager
def agents(tmp: Path, count: int, *args: str, **kw: object) -> Iterator[list[AgentProc]]:
    """``count`` agents, listening; stopped at the end, with no etcd left under their roots."""
    started = [start_agent(tmp / f"agent{i}", *args, **kw) for i in range(count)]  # type: ignore[arg-type]
    try:
        for agent in started:
            agent.wait_listening()
        yield started
    finally:
        for agent in started:
            agent.stop()
        for agent in started:
            assert wait_for(lambda a=agent: not a.etcd_pids(), 20), f"etcd left under {agent.root}"


def etcdplay(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "etcdplay", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
        cwd=ROOT,
    )
