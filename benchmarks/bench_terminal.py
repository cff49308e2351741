"""Terminal UI benchmark: redraw rate and CPU while the cluster takes 100 writes/s.

A 5-member simulated cluster at real-time speed (message level on, as in
every play session) takes a stress of 100 writes/s at one member for
``--seconds``. The same window is measured twice:

1. the session alone (the simulator, its trace, the runner): baseline CPU;
2. the session with the dashboard on it, 80x24, run by Textual's headless
   driver (layout and compositing happen; nothing is written to a terminal):
   redraws per second, mean time of one redraw (drain + fold + widget
   updates), trace events folded per second, and the process's CPU.

CPU is given per simulated second as well as per wall second: on a loaded
machine the process gets a small share of a core and the real-time
simulation falls behind the wall clock, so CPU seconds per simulated second
(the share of a core needed to keep up at real time) is what compares. Their
difference is what the dashboard costs.

    python benchmarks/bench_terminal.py [--seconds 20] [--fps 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from etcdplay.play import PlaySession  # noqa: E402
from etcdplay.play.session import wait_for  # noqa: E402
from etcdplay.runner import current_leader  # noqa: E402
from etcdplay.scenario import from_dict  # noqa: E402
from etcdplay.terminal.app import TerminalApp  # noqa: E402

RATE = 100.0


def _session() -> PlaySession:
    session = PlaySession(from_dict({"name": "bench", "cluster": {"size": 5}}), seed=1, speed=1.0)
    session.start()
    if not wait_for(lambda: current_leader(session.status()) is not None, 60):
        raise SystemExit("no leader within 60 s")
    return session


def _stress(session: PlaySession, seconds: float) -> None:
    session.submit({"action": "stress", "count": int(RATE * seconds), "rate": RATE, "node": "n2"})


def baseline(seconds: float) -> dict[str, float]:
    session = _session()
    try:
        events0, cpu0, wall0 = len(session.events()), time.process_time(), time.perf_counter()
        sim0 = session.now()
        _stress(session, seconds)
        time.sleep(seconds)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        simulated = session.now() - sim0
        events = len(session.events()) - events0
    finally:
        session.close()
    return {"cpu": cpu / wall, "cpu_per_sim_s": cpu / simulated, "events_per_s": events / wall}


def with_dashboard(seconds: float, fps: float) -> dict[str, float]:
    session = _session()
    result: dict[str, float] = {}

    async def main() -> None:
        app = TerminalApp(session, fps=fps)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(1.0)  # past the first fold of the history
            frames0, spent0, folded0 = app.frames, app.frame_seconds, app.events_folded
            cpu0, wall0, sim0 = time.process_time(), time.perf_counter(), session.now()
            made0 = len(session.events())
            _stress(session, seconds)
            while time.perf_counter() - wall0 < seconds:
                await pilot.pause(0.1)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            simulated = session.now() - sim0
            frames = app.frames - frames0
            result.update(
                cpu=cpu / wall,
                cpu_per_sim_s=cpu / simulated,
                made_per_s=(len(session.events()) - made0) / wall,
                backlog=float(len(app._events)),
                redraws_per_s=frames / wall,
                redraw_ms=(app.frame_seconds - spent0) / max(frames, 1) * 1000,
                folded_per_s=(app.events_folded - folded0) / wall,
                writes_shown=float(app.series.last_complete()[0]),
            )

    try:
        asyncio.run(main())
    finally:
        session.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}")
    base: list[dict[str, float]] = []
    ui: list[dict[str, Any]] = []
    for i in range(args.rounds):
        base.append(baseline(args.seconds))
        ui.append(with_dashboard(args.seconds, args.fps))
        b, u = base[-1], ui[-1]
        print(
            f"round {i + 1}: session alone {b['cpu'] * 100:.0f}% CPU, {b['cpu_per_sim_s']:.3f} CPU-s per "
            f"simulated s ({b['events_per_s']:.0f} events/s); with the dashboard {u['cpu'] * 100:.0f}% CPU, "
            f"{u['cpu_per_sim_s']:.3f} CPU-s per simulated s, {u['redraws_per_s']:.1f} redraws/s "
            f"(target {args.fps:g}), {u['redraw_ms']:.2f} ms per redraw, {u['made_per_s']:.0f} events/s "
            f"made, {u['folded_per_s']:.0f} folded, {u['backlog']:.0f} waiting at the end; "
            f"sparkline {u['writes_shown']:.0f} writes/s"
        )

    def med(rows: list[dict[str, Any]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    alone, shown = med(base, "cpu_per_sim_s"), med(ui, "cpu_per_sim_s")
    print(
        f"median: CPU-s per simulated second: session alone {alone:.3f}, with the dashboard {shown:.3f} "
        f"(the dashboard: {shown - alone:.3f}, i.e. {(shown - alone) * 100:.0f}% of a core at real time); "
        f"{med(ui, 'redraws_per_s'):.1f} redraws/s, {med(ui, 'redraw_ms'):.2f} ms per redraw"
    )


if __name__ == "__main__":
    main()
