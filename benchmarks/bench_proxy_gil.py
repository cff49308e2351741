"""Does the fault proxy wait for the GIL? Round trips through it, with the
controller busy.

A pinger process (no other Python work in it) sends 100 bytes through a
proxy to an echo socket of its own and waits for them to come back: two
forwarded chunks per round trip, on a connection opened beforehand (as
etcd's raft streams are). The proxy runs either in this process's thread
(``ProxyHub``, as live runs did) or in its own process (``ProxyProcess``),
while ``--busy`` threads of this process parse etcd-like JSON log lines
without pause (as the log followers do right after a crash, when every
member logs its lost leader).

    python benchmarks/bench_proxy_gil.py [--busy 0 1 3] [--pings 300]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from etcdplay.live.proxy import ProxyHub  # noqa: E402
from etcdplay.live.proxyproc import ProxyProcess  # noqa: E402

PINGER = r"""
import json, socket, sys, time
listener = socket.create_server(("127.0.0.1", 0))
print(listener.getsockname()[1], flush=True)
proxy_port, pings = int(sys.stdin.readline()), int(sys.argv[1])
client = socket.create_connection(("127.0.0.1", proxy_port))
client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
client.sendall(b"GET /raft/stream/message/1 HTTP/1.1\r\nX-Server-From: a1\r\n\r\n")
server, _ = listener.accept()
server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
head = b""
while not head.endswith(b"\r\n\r\n"):
    head += server.recv(4096)
rtts = []
payload = b"x" * 100
for _ in range(pings):
    t = time.perf_counter()
    client.sendall(payload)
    got = b""
    while len(got) < len(payload):
        got += server.recv(4096)
    server.sendall(got)
    back = b""
    while len(back) < len(payload):
        back += client.recv(4096)
    rtts.append((time.perf_counter() - t) * 1000)
    time.sleep(0.002)
print(json.dumps(rtts), flush=True)
"""

LINE = json.dumps(
    {
        "level": "info",
        "ts": "2026-12-02T06:00:00.123456Z",
        "logger": "raft",
        "caller": "etcdserver/zap_raft.go:77",
        "msg": "8e9e05c52164694d is starting a new election at term 7",
    }
)


def busy(stop: threading.Event) -> None:
    while not stop.is_set():
        for _ in range(200):
            json.loads(LINE)


def run(kind: str, n_busy: int, pings: int) -> list[float]:
    pinger = subprocess.Popen(
        [sys.executable, "-c", PINGER, str(pings)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert pinger.stdin is not None and pinger.stdout is not None
    echo_port = int(pinger.stdout.readline())
    hub: ProxyHub | ProxyProcess = ProxyHub(1) if kind == "thread" else ProxyProcess(1)
    stop = threading.Event()
    threads = [threading.Thread(target=busy, args=(stop,), daemon=True) for _ in range(n_busy)]
    try:
        port = hub.add("b", echo_port).port
        hub.learn("a1", "a")
        for t in threads:
            t.start()
        pinger.stdin.write(f"{port}\n")
        pinger.stdin.flush()
        rtts: list[float] = json.loads(pinger.stdout.readline())
    finally:
        stop.set()
        for t in threads:
            t.join()
        hub.close()
        pinger.wait(10)
    return rtts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--busy", type=int, nargs="+", default=[0, 1, 3])
    parser.add_argument("--pings", type=int, default=300)
    args = parser.parse_args()
    print(f"switch interval {sys.getswitchinterval() * 1000:g} ms; round trip = 2 forwarded chunks")
    for n_busy in args.busy:
        for kind in ("thread", "process"):
            rtts = sorted(run(kind, n_busy, args.pings))
            q, median = statistics.quantiles(rtts, n=100), statistics.median(rtts)
            print(
                f"proxy in {kind:7s} busy threads={n_busy}: round trip median {median:6.2f} ms"
                f"  p90 {q[89]:6.2f}  p99 {q[98]:6.2f}  max {rtts[-1]:6.2f}"
            )


if __name__ == "__main__":
    main()
