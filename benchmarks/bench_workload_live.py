"""Throughput of the ``workload`` step against real etcd on this machine.

    PYTHONPATH=$PWD python3 benchmarks/bench_workload_live.py [--etcd-bin PATH]
        [--clients 8,16,32] [--duration 10] [--mix put=50,get=45,delete=5]

Starts a 3-member cluster per setting, runs one workload step (closed-loop
clients, linearizable reads), prints acknowledged ops/s, failures and the
linearizability verdict. Goal: >= 1000 ops/s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import time

from etcdplay.live.backend import LiveBackend
from etcdplay.runner import make_header, run_scenario
from etcdplay.scenario import from_dict
from etcdplay.trace import TraceWriter


def one(etcd_bin: str | None, clients: int, duration: float, mix: dict[str, float], reads: str) -> None:
    sc = from_dict(
        {
            "name": "bench-workload",
            "settle": 1.0,
            "status_interval": 1.0,
            "cluster": {"size": 3},
            "steps": [
                {"at": 0.0, "action": "wait-for-leader"},
                {
                    "at": 0.2,
                    "action": "workload",
                    "clients": clients,
                    "duration": duration,
                    "keys": 10,
                    "mix": mix,
                    "reads": reads,
                },
            ],
        }
    )
    began, cpu = time.monotonic(), time.process_time()
    result = run_scenario(
        sc, LiveBackend(etcd_bin, use_proxy=False), 1, TraceWriter(make_header(sc, 1, "live"))
    )
    wall, cpu = time.monotonic() - began, time.process_time() - cpu
    end = next(e for e in result.trace.events if e["kind"] == "workload" and e["phase"] == "end")
    lin = next(c for c in result.checks if c.name == "linearizable")
    print(
        f"clients={clients:3d} reads={reads:12s} acked={end['acked']:6d} failed={end['failed']:4d} "
        f"ops/s={end['acked'] / duration:7.0f} our-cpu/op={cpu / max(1, end['sent']) * 1e3:.2f}ms "
        f"load={os.getloadavg()[0]:.1f}  linearizable={lin.ok} ({lin.detail[:60]})  wall={wall:.1f}s",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--etcd-bin", default=None)
    ap.add_argument("--clients", default="8,16,32")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--mix", default="put=50,get=45,delete=5")
    ap.add_argument("--reads", default="linearizable")
    args = ap.parse_args()
    mix = {k: float(v) for k, v in (p.split("=") for p in args.mix.split(","))}
    for c in (int(x) for x in args.clients.split(",")):
        one(args.etcd_bin, c, args.duration, mix, args.reads)


if __name__ == "__main__":
    main()
