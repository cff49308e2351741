"""Instructions per simulated second: the simulator's cost, unmoved by
neighbours on a shared machine. Run from the repository root:

    python -m benchmarks.bench_sim_instructions [--engine heap] [--source]

Runs the workload of bench_sim (5 nodes, etcd timers, 100 writes/s, safety
monitor on) under valgrind's callgrind twice, with 1 and with 4 simulated
seconds of load, and divides the difference by 3: start-up (imports, the
first election) cancels out. Needs valgrind (Debian: valgrind). Takes about
a minute per engine. ``--source`` measures the Python source instead of the
compiled core.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys

SHORT, LONG = 1.0, 4.0


def workload(engine: str, seconds: float) -> None:
    from etcdplay.scenario import Scenario
    from etcdplay.sim.backend import SimBackend
    from etcdplay.trace import TraceWriter

    backend = SimBackend(check_safety=True, engine=engine)
    backend.start(Scenario.model_validate({"cluster": {"size": 5}}), TraceWriter({}, keep=False), seed=1)
    backend.sleep(3.0)  # elect a leader first
    backend.start_load(100.0, 100.0, "bench/")
    backend.sleep(seconds)
    backend.close()


def instructions(engine: str, seconds: float, env: dict[str, str]) -> int:
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "benchmarks.bench_sim_instructions",
        "--workload",
        engine,
        str(seconds),
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    found = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or found is None:
        sys.exit(f"the workload failed under valgrind:\n{result.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("simpy", "heap"), action="append")
    parser.add_argument("--source", action="store_true", help="the Python source, not the compiled core")
    parser.add_argument("--workload", nargs=2, metavar=("ENGINE", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.workload:
        workload(args.workload[0], float(args.workload[1]))
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    env = dict(os.environ)
    env.pop("ETCDPLAY_PURE_PYTHON", None)
    if args.source:
        env["ETCDPLAY_PURE_PYTHON"] = "1"
    from etcdplay import native

    core = "Python source" if args.source else ("compiled" if native.COMPILED_CORE else "Python source")
    print(f"simulator core: {core}")
    for engine in args.engine or ["simpy", "heap"]:
        per_second = (instructions(engine, LONG, env) - instructions(engine, SHORT, env)) / (LONG - SHORT)
        millions = per_second / 1e6
        print(f"5 nodes, etcd timers, 100 writes/s, {engine}: {millions:.0f}M instructions per simulated s")


if __name__ == "__main__":
    main()
