"""Live backend benchmarks (real etcd on this machine).

1. Ready time: from launching ``etcdplay live`` (a new Python process) to a
   5-member cluster that serves clients and has a leader; also the time
   ``LiveBackend.start`` itself takes, in-process. Target: ready within 3 s.
2. Proxy overhead: sequential put latency on a 3-member cluster whose peer
   traffic goes through the FaultProxy (no fault set) against a 3-member
   cluster whose members talk directly, both running at once, puts
   alternating between them (this machine's disk and scheduler noise is
   larger than the effect measured; alternating cancels it). Target: < 10 %.
3. Proxy process start: ``ProxyProcess`` launched until it serves 5 proxies
   (part of the ready time above, before t = 0); and its close.

    python benchmarks/bench_live.py [--etcd-bin PATH] [--puts 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from etcdplay.live.backend import LiveBackend  # noqa: E402
from etcdplay.live.proxyproc import ProxyProcess  # noqa: E402
from etcdplay.scenario import from_dict  # noqa: E402
from etcdplay.trace import TraceWriter  # noqa: E402

READY_SCENARIO = """
name = "ready"
settle = 0
[cluster]
size = 5
[[steps]]
at = 0.0
action = "wait-for-leader"
"""


def ready_via_cli(etcd_bin: str | None) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "ready.toml"
        scenario.write_text(READY_SCENARIO)
        out = Path(tmp) / "ready.jsonl"
        args = [sys.executable, "-m", "etcdplay", "live", str(scenario), "--out", str(out), "-q"]
        if etcd_bin:
            args += ["--etcd-bin", etcd_bin]
        launched = time.time()
        subprocess.run(args, check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        events = [json.loads(line) for line in out.read_text().splitlines()]
    started = datetime.fromisoformat(events[0]["started_at"]).timestamp()
    ready = next(e for e in events if e.get("ready_after") is not None)["ready_after"]
    return started + ready - launched


def ready_in_process(etcd_bin: str | None) -> float:
    sc = from_dict({"cluster": {"size": 5}})
    backend = LiveBackend(etcd_bin)
    backend.resolve_binary()
    began = time.perf_counter()
    with backend:
        backend.start(sc, TraceWriter({}), 1)
        took = time.perf_counter() - began
    return took


def proxy_process_start() -> tuple[float, float]:
    """(launch -> 5 proxies served, close) in seconds."""
    began = time.perf_counter()
    hub = ProxyProcess(1)
    hub.bootstrapping = True
    for i in range(5):
        hub.add(f"n{i + 1}", 1)
    hub.connection_count()  # answered: the child runs and serves all five
    serving = time.perf_counter()
    hub.close()
    return serving - began, time.perf_counter() - serving


def put_latencies(etcd_bin: str | None, puts: int) -> tuple[list[float], list[float]]:
    """Two 3-member clusters side by side, one behind the proxy and one not;
    puts alternate between them so machine noise hits both alike."""
    sc = from_dict({"cluster": {"size": 3}})  # etcd's default timers
    with LiveBackend(etcd_bin, use_proxy=True) as proxied, LiveBackend(etcd_bin, use_proxy=False) as direct:
        proxied.start(sc, TraceWriter({}), 1)
        direct.start(sc, TraceWriter({}), 1)
        for i in range(30):  # warm up connections
            proxied.put(f"warm/{i}", "x")
            direct.put(f"warm/{i}", "x")
        via: list[float] = []
        plain: list[float] = []
        for i in range(puts):
            for backend, out in (
                ((proxied, via), (direct, plain)) if i % 2 else ((direct, plain), (proxied, via))
            ):
                result = backend.put(f"bench/{i}", "x" * 64)
                assert result.ok, result.error
                out.append(result.latency)
    return via, plain


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--etcd-bin", default=None)
    parser.add_argument("--puts", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    cli = [ready_via_cli(args.etcd_bin) for _ in range(args.rounds)]
    inproc = [ready_in_process(args.etcd_bin) for _ in range(args.rounds)]
    print(
        f"ready, 5 members, `etcdplay live` launch -> leader: median {statistics.median(cli):.2f} s "
        f"(runs: {', '.join(f'{x:.2f}' for x in cli)}); target < 3 s"
    )
    print(
        f"ready, 5 members, LiveBackend.start in-process:   median {statistics.median(inproc):.2f} s "
        f"(runs: {', '.join(f'{x:.2f}' for x in inproc)})"
    )

    starts = [proxy_process_start() for _ in range(5)]
    launch, close = statistics.median(s for s, _ in starts), statistics.median(c for _, c in starts)
    print(f"proxy process, launch -> 5 proxies served: median {launch:.3f} s, close: median {close:.3f} s")

    with_proxy: list[float] = []
    without: list[float] = []
    for _ in range(args.rounds):
        via, plain = put_latencies(args.etcd_bin, args.puts)
        with_proxy += via
        without += plain

    def describe(xs: list[float]) -> str:
        xs = sorted(xs)
        return (
            f"median {statistics.median(xs) * 1000:.2f} ms, mean {statistics.fmean(xs) * 1000:.2f} ms, "
            f"p90 {xs[int(len(xs) * 0.9)] * 1000:.2f} ms"
        )

    print(f"put latency, 3 members, direct peers:  {describe(without)}")
    print(f"put latency, 3 members, via proxy:     {describe(with_proxy)}")
    added = statistics.median(with_proxy) / statistics.median(without) - 1
    added_mean = statistics.fmean(with_proxy) / statistics.fmean(without) - 1
    print(f"proxy adds {added * 100:+.1f} % (median), {added_mean * 100:+.1f} % (mean); target < 10 %")


if __name__ == "__main__":
    main()
