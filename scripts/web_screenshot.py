"""Take the README's screenshot of ``etcdplay web`` (docs/img/web.png).

Starts ``etcdplay web`` on the simulator, plays a little (writes, a PUT, a
GET, the leader killed), and photographs the page in headless Chromium.

    PYTHONPATH=. python3 scripts/web_screenshot.py [OUT.png] [--scenario NAME]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from playwright.sync_api import sync_playwright
from web_server import PageWatch, launch_chromium, web_server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", nargs="?", default="docs/img/web.png")
    parser.add_argument("--scenario", default=None)
    parser.add_argument("--speed", default="0.5")
    args = parser.parse_args()
    extra = ["--scenario", args.scenario] if args.scenario else []
    with web_server("--seed", "7", "--speed", args.speed, *extra) as server, sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1500, "height": 1180}, bypass_csp=True)
        page.set_default_timeout(180_000)  # a loaded machine
        watch = PageWatch(page, server.origin)
        page.goto(server.url)
        page.wait_for_function(
            "document.getElementById('leader').textContent.startsWith('n')", timeout=90_000
        )
        if not args.scenario:
            page.fill("#stress-count", "400")
            page.select_option("#stress-node", "n3")
            page.click("#stress")
            page.fill("#key", "greeting")
            page.fill("#value", "hello, raft")
            page.click("#put")
            page.wait_for_function(
                "document.getElementById('kv-result').className !== 'result'", timeout=90_000
            )
            time.sleep(2)
            page.select_option("#node", str(page.text_content("#leader")))
            page.click("button[data-act=kill]")
            time.sleep(5)
            page.click("#get")
        time.sleep(6)
        page.screenshot(path=args.out, full_page=True)
        browser.close()
        print(f"{args.out}; console errors: {watch.errors}; off-machine requests: {watch.foreign}")


if __name__ == "__main__":
    main()
