#!/usr/bin/env python3
"""Hunt for real etcd bugs: run a scenario (kill-under-load by default) on a
given etcd binary with fresh seeds until a check fails or the budget ends,
several times over, and say how long finding something took.

    PYTHONPATH=$PWD python3 scripts/bug_hunt.py --etcd-bin PATH \\
        [--scenario kill-under-load] [--budget 10m] [--hunts 3] [--first-seed 1] \\
        [--out-dir hunts/] [--results hunts/results.jsonl]

Each hunt starts from its own seed range (first seed + 1000 x hunt number).
A failing seed's trace is kept in --out-dir (replay it with
``etcdplay live --replay TRACE --etcd-bin PATH``). One JSON line per hunt is
appended to --results: etcd version, found or not, failed checks, seed,
seconds to the failure, runs. The last line printed is the median time to
find over the hunts that found something.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import IO

from rich.console import Console

from etcdplay import scenario as scenarios
from etcdplay.backend import BackendError
from etcdplay.live.backend import LiveBackend
from etcdplay.repeat import hunt, parse_budget
from etcdplay.runner import RunResult, make_header, run_scenario
from etcdplay.trace import TraceWriter


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--etcd-bin", required=True)
    ap.add_argument("--scenario", default="kill-under-load")
    ap.add_argument("--budget", default="10m", help="per hunt (90s, 10m, 1h)")
    ap.add_argument("--hunts", type=int, default=1)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--out-dir", type=Path, default=Path("hunts"))
    ap.add_argument("--results", type=Path, default=None, help="JSON Lines file to append results to")
    ap.add_argument("--proxy", action="store_true", help="peer traffic through the fault proxy")
    args = ap.parse_args()
    console = Console(stderr=False)
    try:
        budget = parse_budget(args.budget)
        sc = scenarios.load(args.scenario)
        version = LiveBackend(args.etcd_bin).header_fields()["etcd_version"]
    except (ValueError, BackendError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out_dir.mkdir(parents=True, exist_ok=True)
    results_path = args.results or args.out_dir / "results.jsonl"

    def run_one(seed: int, sink: IO[str]) -> RunResult:
        one = sc.expanded(seed)
        backend = LiveBackend(args.etcd_bin, use_proxy=args.proxy)
        writer = TraceWriter(make_header(one, seed, "live", **backend.header_fields()), sink)
        return run_scenario(one, backend, seed, writer)

    found_after: list[float] = []
    for h in range(args.hunts):
        first = args.first_seed + 1000 * h
        console.print(
            f"hunt {h + 1}/{args.hunts}: etcd {version}, {sc.name}, seeds from {first}, budget {budget:g} s"
        )
        began = time.monotonic()
        outcome = hunt(
            run_one,
            first_seed=first,
            repeat=None,
            until_fail=True,
            budget=budget,
            scenario=f"{sc.name}-etcd{version}",
            out=args.out_dir / f"{sc.name}-etcd{version}.jsonl",
            console=console,
        )
        took = time.monotonic() - began
        record = {
            "etcd": version,
            "etcd_bin": args.etcd_bin,
            "scenario": sc.name,
            "found": bool(outcome.failures),
            "seconds": round(took, 1),
            "runs": outcome.runs,
            "first_seed": first,
        }
        if outcome.failures:
            failure = outcome.failures[0]
            record.update(
                seed=failure.seed,
                checks=failure.checks,
                known_bugs=failure.known_bugs,
                trace=str(failure.trace),
            )
            found_after.append(took)
        with results_path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        console.print(json.dumps(record))
    if found_after:
        console.print(
            f"etcd {version}: found something in {len(found_after)}/{args.hunts} hunt(s); "
            f"median time to find {statistics.median(found_after):.0f} s"
        )
    else:
        console.print(f"etcd {version}: nothing found in {args.hunts} hunt(s) of {budget:g} s")
    return 1 if found_after else 0


if __name__ == "__main__":
    sys.exit(main())
