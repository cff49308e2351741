"""Run every built-in scenario over many seeds and list the seeds whose checks fail.

    PYTHONPATH=. python3 benchmarks/builtin_seeds.py --seeds 300 [--only flaky-network]

The built-ins are lessons: each must pass on every seed (issue 14, item 17).
"""

from __future__ import annotations

import argparse
import time

from etcdplay import scenario as scenarios
from etcdplay.runner import make_header, run_scenario
from etcdplay.sim.backend import SimBackend
from etcdplay.trace import TraceWriter


def failing_seeds(name: str, seeds: range) -> list[tuple[int, str]]:
    base = scenarios.load(name)
    failed = []
    for seed in seeds:
        sc = base.expanded(seed)
        result = run_scenario(sc, SimBackend(), seed, TraceWriter(make_header(sc, seed, "sim"), keep=True))
        if not result.ok:
            failed.append((seed, "; ".join(f"{c.name}: {c.detail}" for c in result.failed)))
    return failed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=300)
    parser.add_argument("--only", default=None)
    args = parser.parse_args()
    names = [args.only] if args.only else scenarios.builtin_names()
    for name in names:
        began = time.monotonic()
        failed = failing_seeds(name, range(1, args.seeds + 1))
        took = time.monotonic() - began
        print(f"{name}: {len(failed)} of {args.seeds} seeds failed ({took:.0f} s)", flush=True)
        for seed, why in failed:
            print(f"  seed {seed}: {why}", flush=True)


if __name__ == "__main__":
    main()
