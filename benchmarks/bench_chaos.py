"""How many chaos seeds per second can a safety sweep check?

Run from the checkout: python3 -m benchmarks.bench_chaos [--seeds 200] [--jobs 2]
[--in-process 30] [--scenario chaos]. (``python3 benchmarks/bench_chaos.py``
puts ``benchmarks/`` first on the path, so it imports the *installed*
etcdplay, which may be another checkout, and its compiled core may not match
its source: check the first line printed.)

The goal (issue 12): 100,000 chaos seeds within 30 minutes on this 2-core
machine, i.e. at least 55 runs/s. Printed:

1. which simulator core runs (compiled or the Python source: build the
   compiled one in a checkout with ``python3 setup.py build_ext --inplace``);
2. the full path (``etcdplay simulate``'s: the whole trace, every status
   event) and the lean path (``etcdplay.sim.lean.check_run``: pass/fail
   only), each in this process over the same seeds: runs per CPU second;
3. the lean path through ``etcdplay sweep scenario --checks-only`` with
   ``--jobs``: runs per wall second, which is what the goal is about, and
   the time 100,000 seeds would take at that rate.

CPU seconds are printed beside wall seconds: a neighbour on a shared machine
slows wall time. Check the affinity first (``taskset -p $$`` should list
every core): a process confined to one core gives its workers one core too,
and ``--jobs 2`` then gains nothing. On 1000 seeds start-up and the last
chunk weigh more than on 100,000; ``etcdplay sweep scenario chaos --seeds
10000 --checks-only --jobs 2`` measures the rate the goal is about.
"""

from __future__ import annotations

import argparse
import time

from etcdplay import native
from etcdplay.runner import make_header, run_scenario
from etcdplay.scenario import load
from etcdplay.sim.backend import SimBackend
from etcdplay.sim.lean import check_run
from etcdplay.sweep.run import Sweep, run_sweep
from etcdplay.sweep.scenario_sweep import ScenarioAggregate, check_trial, payload
from etcdplay.sweep.seeds import consecutive_seed
from etcdplay.trace import TraceWriter

GOAL_RUNS_PER_S = 100_000 / 1800


def full_run(name: str, seed: int) -> bool:
    scenario = load(name).expanded(seed)
    writer = TraceWriter(make_header(scenario, seed, "sim"))
    return run_scenario(scenario, SimBackend(), seed, writer).ok


def in_process(name: str, seeds: int) -> None:
    scenario = load(name)
    for label, fn in (("full", lambda s: full_run(name, s)), ("lean", lambda s: check_run(scenario, s).ok)):
        cpu, wall = time.process_time(), time.perf_counter()
        failed = [s for s in range(1, seeds + 1) if not fn(s)]
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(
            f"{label:5} path, in process: {seeds} runs in {wall:.1f} s wall / {cpu:.1f} s CPU: "
            f"{seeds / cpu:.1f} runs per CPU second; failed seeds: {failed or 'none'}"
        )


def swept(name: str, seeds: int, jobs: int) -> float:
    scenario = load(name)
    sweep = Sweep(
        experiment="scenario",
        backend="sim",
        trial=check_trial,
        seed_fn=consecutive_seed,
        payloads=[payload(scenario)],
        labels=["as written"],
        params=[{}],
        trials=seeds,
        seed=1,
    )
    cpu = time.process_time()
    outcome = run_sweep(sweep, ScenarioAggregate, jobs=jobs, progress=False)
    failed = outcome.aggregates[0].failed_seeds
    print(
        f"lean path, sweep --checks-only --jobs {jobs}: {seeds} runs in {outcome.elapsed:.1f} s wall: "
        f"{outcome.rate:.1f} runs/s (this process: {time.process_time() - cpu:.1f} s CPU); "
        f"failed seeds: {failed or 'none'}"
    )
    return outcome.rate


def main() -> None:
    parser = argparse.ArgumentParser(description="chaos seeds per second, full and lean")
    parser.add_argument("--scenario", default="chaos")
    parser.add_argument("--seeds", type=int, default=200, help="runs for the sweep (default: 200)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--in-process", type=int, default=30, help="runs for the in-process comparison")
    args = parser.parse_args()
    print(native.describe())
    if args.in_process:
        in_process(args.scenario, args.in_process)
    rate = swept(args.scenario, args.seeds, args.jobs)
    minutes = 100_000 / rate / 60 if rate else float("inf")
    verdict = "meets" if rate >= GOAL_RUNS_PER_S else "misses"
    print(
        f"100,000 seeds at this rate: {minutes:.0f} min; {verdict} the goal of {GOAL_RUNS_PER_S:.1f} runs/s"
    )


if __name__ == "__main__":
    main()
