"""Does the browser keep up? ``etcdplay web`` under 100 writes/s, messages shown.

A simulated 5-member cluster in real time (speed 1, message level on: every
peer message is sent to the page), writes at 100/s through the page's stress
control, one headless Chromium tab. Measured over a window of wall time:

- browser frames per second: a requestAnimationFrame counter in the page
  (``window.__etcdplay.stats.frames``), which handles the socket's messages
  once per frame;
- events reaching the page per second (messages animated, batches);
- server CPU: user+system seconds of the ``etcdplay web`` process (the
  simulator, the hub and the WebSocket) per wall second, and the same for
  Chromium's processes.

    python benchmarks/bench_web.py [--seconds 20] [--rate 100] [--size 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import psutil  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402
from web_server import PageWatch, launch_chromium, web_server  # noqa: E402


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for proc in processes:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def chromium_processes() -> list[psutil.Process]:
    me = psutil.Process()
    return [p for p in me.children(recursive=True) if "chrom" in p.name().lower()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--size", type=int, default=5)
    args = parser.parse_args()

    with web_server("--seed", "1", "--size", str(args.size)) as server, sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1500, "height": 1200}, bypass_csp=True)
        page.set_default_timeout(180_000)  # a loaded machine
        watch = PageWatch(page, server.origin)
        page.goto(server.url)
        page.wait_for_function(
            "document.getElementById('leader').textContent.startsWith('n')", timeout=90_000
        )
        count = int(args.rate * (args.seconds + 10))
        page.fill("#stress-count", str(count))
        page.evaluate(
            "(rate) => window.__etcdplay.ws.send(JSON.stringify({op: 'command', id: 999, command: "
            "{action: 'stress', count: Number(document.getElementById('stress-count').value), rate}}))",
            args.rate,
        )
        time.sleep(3)  # the writes get going
        server_proc = psutil.Process(server.proc.pid)
        browsers = chromium_processes()
        stats0 = page.evaluate("({...window.__etcdplay.stats})")
        t0 = time.monotonic()
        s0, b0 = cpu_seconds([server_proc]), cpu_seconds(browsers)
        time.sleep(args.seconds)
        wall = time.monotonic() - t0
        s1, b1 = cpu_seconds([server_proc]), cpu_seconds(browsers)
        stats1 = page.evaluate("({...window.__etcdplay.stats})")
        keys = page.evaluate(
            "Math.max(...[...document.querySelectorAll('#members tbody tr')]"
            ".map(r => Number(r.children[7].textContent) || 0))"
        )
        browser.close()

    def rate(name: str) -> float:
        return (stats1[name] - stats0[name]) / wall

    result = {
        "cluster": args.size,
        "writes_per_s": args.rate,
        "window_s": round(wall, 1),
        "browser_fps": round(rate("frames"), 1),
        "batches_per_s": round(rate("batches"), 1),
        "peer_messages_per_s_shown": round(rate("messagesSeen"), 0),
        "chart_redraws_per_s": round(rate("charted"), 2),
        "page_work_ms_per_frame": round(
            (stats1["workMs"] - stats0["workMs"]) / max(1, stats1["frames"] - stats0["frames"]), 2
        ),
        "chart_ms_per_redraw": round(
            (stats1["chartMs"] - stats0["chartMs"]) / max(1, stats1["charted"] - stats0["charted"]), 1
        ),
        "server_cpu_percent_of_one_core": round(100 * (s1 - s0) / wall, 1),
        "chromium_cpu_percent_of_one_core": round(100 * (b1 - b0) / wall, 1),
        "keys_at_end": keys,
        "console_errors": len(watch.errors),
        "cores": psutil.cpu_count(),
        "load_average_1m": round(psutil.getloadavg()[0], 2),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
