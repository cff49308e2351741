"""Helpers for the web tests: a real ``etcdplay web`` process and a real
headless Chromium (Debian's, driven by Playwright through executable_path)."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Generous bounds for a loaded machine: they only stop a hang.
PATIENCE = 90.0
ROOT = Path(__file__).resolve().parent.parent


class WebServer:
    """``python -m etcdplay web ...`` in a process of its own."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "etcdplay", "web", "--no-open", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=str(ROOT),
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        self.printed = ""  # the line that gave the URL
        threading.Thread(target=self._read, args=(self.proc.stdout, True), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, False), daemon=True).start()
        self.url = self._wait_for_url()
        parts = urlsplit(self.url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.port = parts.port

    def _read(self, stream: Any, out: bool) -> None:
        for line in stream:
            if out:
                self.lines.put(line)
            else:
                self.stderr.append(line)

    def _wait_for_url(self) -> str:
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"etcdplay web exited: {''.join(self.stderr)}") from None
                continue
            found = re.search(r"(http://\S+)", line)
            if found:
                self.printed = line
                return found.group(1)
        raise RuntimeError("etcdplay web printed no URL")

    def stop(self) -> int:
        """Ctrl-C, as a person would; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@contextmanager
def web_server(*args: str) -> Iterator[WebServer]:
    server = WebServer(*args)
    try:
        yield server
    finally:
        server.stop()


def launch_chromium(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


class PageWatch:
    """What a page did that it should not: console errors, page errors, and
    requests to anything but the server itself."""

    def __init__(self, page: Any, origin: str) -> None:
        self.errors: list[str] = []
        self.foreign: list[str] = []
        self.origin = origin
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("request", self._request)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _request(self, request: Any) -> None:
        url = request.url
        if url.startswith(("data:", "blob:")):
            return
        # the WebSocket is ws://same-host
        same = url.startswith(self.origin) or url.startswith(self.origin.replace("http", "ws", 1))
        if not same:
            self.foreign.append(url)
