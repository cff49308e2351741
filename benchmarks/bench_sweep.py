"""How fast is `etcdplay sweep failover`, and is its memory flat?

Run: python benchmarks/bench_sweep.py [--quick]

1. Failover trials per second, 5 nodes, uniform 150-300 ms timeouts, LAN
   latency (uniform(0.5,1.5) ms), through the whole sweep pipeline (seeding,
   chunking, aggregation, JSON): in process (--jobs 1, one core) and on a
   process pool (--jobs 2). CPU seconds are printed beside wall seconds
   because a busy machine slows wall time but not CPU time.
2. The target: 9 configurations x 1000 trials with --jobs 2 (the election
   timeout ranges of Ongaro's figure: 150-151/155/175/200/300 and
   12-24/25-50/50-100/100-200 ms), at most 20 s wall.
3. Peak memory for 1000 vs 5000 trials (tracemalloc peak of Python
   allocations in the sweeping process, and the process's max RSS, each in a
   fresh subprocess), with --json written: it should not grow with trials.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

from etcdplay.sweep import failover as fo
from etcdplay.sweep.run import Sweep, run_sweep
from etcdplay.sweep.seeds import trial_seed

FIGURE = ["150-151", "150-155", "150-175", "150-200", "150-300", "12-24", "25-50", "50-100", "100-200"]


def make_sweep(ranges: list[str], trials: int) -> Sweep:
    configs = fo.build_configs(
        nodes=[5],
        election_timeouts=ranges,
        heartbeats=[],
        latencies=["uniform(0.5,1.5)"],
        disks=["fixed(1)"],
        stale_followers=[0],
        failed=[0],
        timer="uniform",
        pre_vote=False,
        check_quorum=False,
    )
    return Sweep(
        experiment="failover",
        backend="sim",
        trial=fo.sim_trial,
        seed_fn=trial_seed,
        payloads=list(configs),
        labels=fo.labels(configs),
        params=[c.to_dict() for c in configs],
        trials=trials,
        seed=1,
    )


def cpu_seconds() -> float:
    """CPU time of this process (pool workers are the fork server's children,
    not ours, so only --jobs 1 gets a CPU figure)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


def timed(ranges: list[str], trials: int, jobs: int) -> tuple[float, float, int]:
    sweep = make_sweep(ranges, trials)
    cpu0 = cpu_seconds()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        outcome = run_sweep(
            sweep, fo.FailoverAggregate, jobs=jobs, json_path=f"{tmp}/out.json", progress=False
        )
    return time.perf_counter() - began, cpu_seconds() - cpu0, outcome.trials


def memory_child(trials: int) -> None:
    """In a fresh process: sweep ``trials`` trials, print peak memory as JSON."""
    import tracemalloc

    tracemalloc.start()
    with tempfile.TemporaryDirectory() as tmp:
        run_sweep(
            make_sweep(["150-300"], trials),
            fo.FailoverAggregate,
            jobs=1,
            json_path=f"{tmp}/out.json",
            progress=False,
        )
    _, peak = tracemalloc.get_traced_memory()
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"trials": trials, "tracemalloc_peak_kb": peak // 1024, "max_rss_kb": rss_kb}))


def memory(trials: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(trials)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer trials (a smoke run)")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    n = 300 if args.quick else 2000
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    for jobs in (1, 2):
        wall, cpu, trials = timed(["150-300"], n, jobs)
        cpu_text = f", {cpu:.2f} s CPU ({trials / cpu:.0f} trials per CPU-second)" if jobs == 1 else ""
        print(
            f"5 nodes, 150-300 ms, LAN, --jobs {jobs}: {trials} trials in {wall:.2f} s wall "
            f"({trials / wall:.0f} trials/s){cpu_text}"
        )
    per = 100 if args.quick else 1000
    wall, _, trials = timed(FIGURE, per, 2)
    verdict = "ok" if wall <= 20 or args.quick else "OVER the 20 s target"
    print(
        f"9 configurations x {per} trials, --jobs 2: {wall:.2f} s wall "
        f"({trials / wall:.0f} trials/s) [{verdict}]"
    )
    small, large = (1000, 5000) if not args.quick else (200, 1000)
    a, b = memory(small), memory(large)
    for m in (a, b):
        print(
            f"memory, {m['trials']} trials (with --json): tracemalloc peak {m['tracemalloc_peak_kb']} KiB, "
            f"max RSS {m['max_rss_kb'] / 1024:.1f} MiB"
        )
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    print(
        f"growth {small} -> {large} trials: {b['max_rss_kb'] - a['max_rss_kb']} KiB RSS, "
        f"{b['tracemalloc_peak_kb'] - a['tracemalloc_peak_kb']} KiB traced"
    )


if __name__ == "__main__":
    main()
