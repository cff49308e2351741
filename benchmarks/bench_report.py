"""Time `etcdplay report` on a synthetic hour-long trace of about 100k events.

    python benchmarks/bench_report.py [--events 100000] [--browser] [--keep DIR]

Generates a 3-node trace (status every 0.5 s, 20 writes/s, a fault every
30 s with an election after leader faults), then measures: reading the trace,
building the report, the HTML size, and (with --browser) how long headless
Chromium takes to load the page and draw every figure.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from etcdplay.report.html import write_report
from etcdplay.report.load import load

NODES = ["n1", "n2", "n3"]


def synthetic(path: Path, events: int, seed: int = 1) -> int:
    """Write a plausible hour of a 3-node cluster under chaos; returns the event count."""
    rng = random.Random(seed)
    duration = 3600.0
    per_second = events / duration  # target density
    write_rate = max(1.0, per_second - 3 / 0.5 - 0.5)  # what status and faults leave
    out: list[dict] = [
        {
            "t": 0.0,
            "kind": "header",
            "schema": 1,
            "backend": "sim",
            "seed": seed,
            "etcdplay": "bench",
            "nodes": NODES,
            "scenario": {"name": "bench-chaos", "status_interval": 0.5},
        }
    ]
    timeline: list[dict] = []
    term, leader, commit, keys = 1, "n1", 0, 0
    down: set[str] = set()
    for n in NODES:
        timeline.append({"t": 0.0, "kind": "role", "node": n, "role": "follower", "term": 0})
    timeline += [
        {"t": 1.1, "kind": "role", "node": "n1", "role": "candidate", "term": 1},
        {"t": 1.15, "kind": "role", "node": "n1", "role": "leader", "term": 1},
    ]
    t_fault = 30.0
    no_leader_until = 1.15
    t = 0.0
    next_write = 2.0
    while t < duration:
        t = round(t + 0.5, 6)
        while next_write < t:
            ok = next_write > no_leader_until and rng.random() > 0.001
            if ok:
                commit += 1
                keys += 1
            timeline.append(
                {
                    "t": round(next_write, 6),
                    "kind": "client",
                    "op": "put",
                    "key": f"load/{commit}",
                    "ok": ok,
                    "latency": rng.uniform(0.001, 0.01) if ok else 1.0,
                    "error": None if ok else "timeout",
                    "source": "load",
                }
            )
            next_write += 1.0 / write_rate
        if t >= t_fault:
            victim = leader if rng.random() < 0.5 else rng.choice([n for n in NODES if n != leader])
            action = rng.choice(["crash", "partition", "delay"])
            groups = [[victim], [n for n in NODES if n != victim]]
            timeline.append(
                {
                    "t": t,
                    "kind": "fault",
                    "action": action,
                    "selector": "random",
                    "nodes": [victim],
                    **({"groups": groups} if action == "partition" else {}),
                    **({"latency_ms": "uniform(50,200)"} if action == "delay" else {}),
                }
            )
            if action == "crash":
                down.add(victim)
                timeline.append({"t": t, "kind": "role", "node": victim, "role": "down", "term": term})
            if victim == leader and action != "delay":
                others = [n for n in NODES if n != victim]
                rounds = rng.choice([1, 1, 1, 2])
                tt = t + rng.uniform(1.0, 2.0)
                for _ in range(rounds):
                    term += 1
                    for n in others:
                        timeline.append(
                            {
                                "t": round(tt, 6),
                                "kind": "role",
                                "node": n,
                                "role": "pre-candidate",
                                "term": term - 1,
                            }
                        )
                        timeline.append(
                            {
                                "t": round(tt + 0.01, 6),
                                "kind": "role",
                                "node": n,
                                "role": "candidate",
                                "term": term,
                            }
                        )
                    tt += rng.uniform(1.0, 2.0)
                leader = rng.choice(others)
                timeline.append(
                    {"t": round(tt, 6), "kind": "role", "node": leader, "role": "leader", "term": term}
                )
                for n in others:
                    if n != leader:
                        timeline.append(
                            {
                                "t": round(tt + 0.01, 6),
                                "kind": "role",
                                "node": n,
                                "role": "follower",
                                "term": term,
                            }
                        )
                no_leader_until = tt
            undo = round(t + rng.uniform(3.0, 8.0), 6)
            timeline.append(
                {
                    "t": undo,
                    "kind": "fault",
                    "action": "restart" if action == "crash" else "heal",
                    "selector": "crashed",
                    "nodes": [victim] if action == "crash" else [],
                }
            )
            if action == "crash":
                down.discard(victim)
                timeline.append(
                    {
                        "t": round(undo + 0.2, 6),
                        "kind": "role",
                        "node": victim,
                        "role": "follower",
                        "term": term,
                    }
                )
            t_fault += 30.0
        for n in NODES:
            running = n not in down
            lag = 0 if n == leader else rng.randint(0, 2)
            timeline.append(
                {
                    "t": t,
                    "kind": "status",
                    "node": n,
                    "running": running,
                    "role": ("leader" if n == leader else "follower") if running else None,
                    "term": term if running else None,
                    "leader": leader,
                    "commit": commit - lag if running else None,
                    "applied": commit - lag if running else None,
                    "revision": keys - lag + 1 if running else None,
                    "keys": keys - lag if running else None,
                    "hash": f"{(keys - lag) * 2654435761 % 2**32:08x}" if running else None,
                }
            )
    timeline.sort(key=lambda e: e["t"])
    out += timeline
    out += [
        {"t": duration, "kind": "check", "name": "convergence", "ok": True, "detail": "", "nodes": []},
        {"t": duration, "kind": "end", "duration": duration, "ok": True},
    ]
    with path.open("w", encoding="utf-8") as f:
        for e in out:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")
    return len(out)


def open_in_browser(path: Path) -> tuple[float, int]:
    from playwright.sync_api import sync_playwright

    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
    ]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        start = time.perf_counter()
        page.goto(path.resolve().as_uri(), wait_until="load")
        page.wait_for_function(
            "Array.from(document.querySelectorAll('.js-plotly-plot'))"
            ".every(d => d.querySelector('.main-svg'))",
            timeout=60_000,
        )
        elapsed = time.perf_counter() - start
        browser.close()
    return elapsed, len(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--browser", action="store_true", help="also time headless Chromium")
    parser.add_argument("--keep", type=Path, help="keep the trace and report in this directory")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-report-"))
    folder.mkdir(parents=True, exist_ok=True)
    trace_path = folder / "bench.jsonl"
    count = synthetic(trace_path, args.events)
    print(f"trace: {count} events, {trace_path.stat().st_size / 1e6:.1f} MB")
    start = time.perf_counter()
    trace = load(trace_path)
    read = time.perf_counter() - start
    start = time.perf_counter()
    out = write_report(trace, folder / "bench.html")
    build = time.perf_counter() - start
    size = out.stat().st_size / 1e6
    print(
        f"read trace: {read:.2f} s; build report: {build:.2f} s; html: {size:.1f} MB "
        f"(plotly.js ~4.7 MB of it)"
    )
    if args.browser:
        elapsed, errors = open_in_browser(out)
        print(f"chromium: loaded and drew every figure in {elapsed:.2f} s, {errors} console errors")
    print(f"files in {folder}")


if __name__ == "__main__":
    main()
