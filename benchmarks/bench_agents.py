"""Members on agents against members started locally (same machine, loopback).

1. Start: ``LiveBackend.start`` to a 3-member cluster with a leader, on three
   local agents (one member each) and locally, alternating, median of N.
2. Put latency: sequential puts to the leader, agents and local clusters both
   running, puts alternating between them (noise on this machine is larger
   than the effect; alternating cancels it).
3. Clock offsets: what the controller estimated for each agent (true offset 0).

    python benchmarks/bench_agents.py [--etcd-bin /usr/bin/etcd] [--rounds 3] [--puts 200]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from etcdplay.agent.options import AgentOptions  # noqa: E402
from etcdplay.live.backend import LiveBackend  # noqa: E402
from etcdplay.scenario import from_dict  # noqa: E402
from etcdplay.trace import TraceWriter  # noqa: E402

SCENARIO = {"name": "bench", "status_interval": 1.0, "cluster": {"size": 3}}


def start_agents(count: int, etcd_bin: str, root: Path) -> list[tuple[subprocess.Popen[str], str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = []
    for i in range(count):
        proc = subprocess.Popen(
            [sys.executable, "-m", "etcdplay", "agent", "--listen", "127.0.0.1:0", "--etcd-bin", etcd_bin,
             "--root", str(root / f"a{i}")],
            stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"https?://(\S+?) ", line)
        assert match, line
        out.append((proc, match.group(1)))
    return out


def started(backend: LiveBackend) -> float:
    began = time.perf_counter()
    backend.start(from_dict(SCENARIO), TraceWriter({"backend": "live"}), 1)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--etcd-bin", default="/usr/bin/etcd")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--puts", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        procs = start_agents(3, args.etcd_bin, Path(tmp))
        options = AgentOptions(tuple(address for _p, address in procs))
        try:
            starts: dict[str, list[float]] = {"agents": [], "local": []}
            for _ in range(args.rounds):
                for kind in ("agents", "local"):
                    backend = LiveBackend(args.etcd_bin) if kind == "local" else LiveBackend(agents=options)
                    try:
                        starts[kind].append(started(backend))
                    finally:
                        backend.close()
            remote, local = LiveBackend(agents=options), LiveBackend(args.etcd_bin)
            try:
                started(remote)
                started(local)
                latency: dict[str, list[float]] = {"agents": [], "local": []}
                for i in range(args.puts):
                    for kind, backend in (("agents", remote), ("local", local)):
                        result = backend.put(f"k{i}", "v")
                        if result.ok:
                            latency[kind].append(result.latency * 1000)
                assert remote.fleet is not None
                clocks = remote.fleet.clocks()
            finally:
                remote.close()
                local.close()
        finally:
            for proc, _address in procs:
                proc.terminate()
                proc.wait(20)
    for kind in ("agents", "local"):
        print(
            f"{kind:>6}: start to leader median {statistics.median(starts[kind]):.3f} s "
            f"({', '.join(f'{s:.2f}' for s in starts[kind])}); put latency median "
            f"{statistics.median(latency[kind]):.2f} ms, mean {statistics.mean(latency[kind]):.2f} ms "
            f"({len(latency[kind])} puts)"
        )
    for c in clocks:
        print(
            f"clock {c['address']}: offset {c['clock_offset_ms']:+.3f} ms, bound {c['clock_error_ms']} ms "
            f"({c['clock_samples']} samples)"
        )


if __name__ == "__main__":
    main()
