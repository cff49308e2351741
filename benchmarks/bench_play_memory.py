"""Play-session memory: how fast the history a session keeps in memory grows.

A play session (``etcdplay web`` / ``terminal``) keeps every trace event of
the session for time travel and the trace download, message level included.
This measures that history on the simulator, 5 members, messages on, with
tracemalloc (Python allocations only): events per simulated second and
bytes per event, idle and under a load of ``--rate`` writes/s, and the JSON
Lines size of the same events for comparison.

    python -m benchmarks.bench_play_memory [--seconds 60] [--rate 100]
"""

from __future__ import annotations

import argparse
import json
import tracemalloc

from etcdplay.scenario import Scenario
from etcdplay.sim.backend import SimBackend
from etcdplay.trace import TraceWriter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="simulated seconds per phase")
    parser.add_argument("--rate", type=float, default=100.0, help="writes/s in the loaded phase")
    args = parser.parse_args()

    tracemalloc.start()
    scenario = Scenario.model_validate({"cluster": {"size": 5}})
    trace = TraceWriter({"backend": "sim", "seed": 1}, keep=True)
    backend = SimBackend(trace_messages=True)
    backend.start(scenario, trace, 1)
    base, _ = tracemalloc.get_traced_memory()

    backend.sleep(args.seconds)
    idle_bytes, _ = tracemalloc.get_traced_memory()
    idle_events = len(trace.events)
    backend.start_load(args.rate, args.seconds, "x/")
    backend.sleep(args.seconds + 1.0)
    load_bytes, _ = tracemalloc.get_traced_memory()
    load_events = len(trace.events) - idle_events
    json_bytes = sum(len(json.dumps(e)) + 1 for e in trace.events) / len(trace.events)
    backend.close()

    def row(name: str, events: int, grown: int, seconds: float) -> None:
        per_second = grown / seconds
        print(
            f"{name:>22}: {events / seconds:8,.0f} events/s  {grown / events:5.0f} B/event  "
            f"{per_second / 1e3:8,.1f} KB per simulated s  {per_second * 3600 / 1e6:7,.0f} MB per hour"
        )

    row("idle", idle_events, idle_bytes - base, args.seconds)
    row(f"{args.rate:g} writes/s", load_events, load_bytes - idle_bytes, args.seconds + 1.0)
    print(f"{'as JSON Lines':>22}: {json_bytes:.0f} B/event")


if __name__ == "__main__":
    main()
