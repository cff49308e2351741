"""How fast is the simulator? Run from the repository root:

    python -m benchmarks.bench_sim [--quick]

1. A 5-node cluster with etcd's default timers (heartbeat 100 ms, election
   1000 ms) under 100 writes/s: simulated seconds per wall second, and trace
   events per wall second (target: >= 100x real time).
2. Leader-failover trials per second (5 nodes, uniform 150-300 ms timeouts,
   LAN latency; target: >= 500 trials/s on one core).
"""

from __future__ import annotations

import argparse
import statistics
import time

from etcdplay import native
from etcdplay.scenario import Scenario
from etcdplay.sim.backend import SimBackend
from etcdplay.sim.failover import FailoverParams, run_failover_trial
from etcdplay.trace import TraceWriter


def bench_cluster(
    sim_seconds: float, rate: float, check_safety: bool, engine: str = "simpy"
) -> tuple[float, float]:
    scenario = Scenario.model_validate({"cluster": {"size": 5}})
    trace = TraceWriter({"backend": "sim"}, keep=False)
    counter = [0]

    def count(_event: object) -> None:
        counter[0] += 1

    trace.subscribe(count)
    backend = SimBackend(check_safety=check_safety, engine=engine)
    backend.start(scenario, trace, seed=1)
    backend.sleep(3.0)  # elect a leader first
    backend.start_load(rate, sim_seconds, "bench/")
    counter[0] = 0
    # CPU time of this process: on a shared machine wall time measures the
    # neighbours too. It equals wall time on an idle core.
    began = time.process_time()
    backend.sleep(sim_seconds)
    wall = time.process_time() - began
    backend.close()
    return sim_seconds / wall, counter[0] / wall


def bench_failover(trials: int) -> float:
    params = FailoverParams()
    began = time.process_time()
    for seed in range(trials):
        run_failover_trial(params, seed)
    return trials / (time.process_time() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (for CI smoke)")
    args = parser.parse_args()
    sim_seconds = 5.0 if args.quick else 30.0
    trials = 200 if args.quick else 2000
    reps = 1 if args.quick else 3

    rows = []
    for engine, safety in (("simpy", True), ("heap", True), ("heap", False)):
        speeds, rates = zip(
            *(bench_cluster(sim_seconds, 100.0, safety, engine) for _ in range(reps)), strict=True
        )
        label = f"5 nodes, etcd timers, 100 writes/s, {engine}" + ("" if safety else ", no safety monitor")
        rows.append(
            (
                label,
                f"{statistics.median(speeds):.0f}x real time",
                f"{statistics.median(rates):,.0f} events/s",
            )
        )
    idle, idle_rate = bench_cluster(sim_seconds, 0.001, True)
    rows.append(("5 nodes, etcd timers, idle", f"{idle:.0f}x real time", f"{idle_rate:,.0f} events/s"))
    per_second = statistics.median(bench_failover(trials) for _ in range(reps))
    rows.append(("failover trial, 5 nodes, uniform 150-300 ms", f"{per_second:,.0f} trials/s", ""))

    width = max(len(r[0]) for r in rows)
    print(native.describe())
    print("(rates per second of this process's CPU time)")
    print(f"{'benchmark':<{width}}  {'speed':>22}  {'trace':>16}")
    for label, speed, events in rows:
        print(f"{label:<{width}}  {speed:>22}  {events:>16}")


if __name__ == "__main__":
    main()
