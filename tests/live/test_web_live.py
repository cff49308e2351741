"""``etcdplay web --live``: the same page on real etcd members, and Ctrl-C
stops every member it started."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest
from playwright import sync_api
from web_server import PATIENCE, PageWatch, launch_chromium, web_server

from .conftest import ETCD_34, _available

pytestmark = [
    pytest.mark.live,
    pytest.mark.browser,
    pytest.mark.skipif(not _available(ETCD_34), reason="no etcd 3.4"),
]

MS = int(PATIENCE * 1000)


def test_the_page_on_real_etcd() -> None:
    with web_server("--live", "--size", "3", "--seed", "1", "--etcd-bin", ETCD_34) as server:
        with sync_api.sync_playwright() as p:
            browser = launch_chromium(p)
            pg = browser.new_page(viewport={"width": 1400, "height": 1100}, bypass_csp=True)
            pg.set_default_timeout(MS)
            watch = PageWatch(pg, server.origin)
            pg.goto(server.url)
            pg.wait_for_function("document.getElementById('leader').textContent.startsWith('n')", timeout=MS)
            assert pg.text_content("#mode") == "real etcd"
            # what etcd does not let us see is said, not faked
            assert pg.is_visible("#unobservable")
            assert "does not expose" in str(pg.text_content("#unobservable"))
            assert not pg.is_visible("#logs-panel") and not pg.is_visible("#step")
            # its actions replay on real etcd, not on the simulator
            assert "etcdplay live SCENARIO.toml" in str(pg.text_content("#replay-hint"))
            # db size from status polling, hashes from HashKV
            pg.wait_for_function(
                "[...document.querySelectorAll('#members tbody td.live-only')].some(td => /B$/.test(td.textContent))",
                timeout=MS,
            )
            pg.wait_for_function(
                "document.getElementById('hashes').textContent === 'hashes agree'", timeout=MS
            )
            old = str(pg.text_content("#leader"))
            pg.select_option("#node", old)
            pg.click("button[data-act=kill]")
            pg.wait_for_function(
                "(old) => { const l = document.getElementById('leader').textContent; "
                "return l.startsWith('n') && l !== old; }",
                arg=old,
                timeout=MS,
            )
            # a majority follows the new leader before we write through it
            pg.wait_for_function("document.getElementById('quorum').textContent === 'quorum'", timeout=MS)
            other = next(n for n in ("n1", "n2", "n3") if n != old)
            pg.fill("#key", "k")
            pg.fill("#value", "on real etcd")
            pg.select_option("#kv-node", other)
            pg.click("#put")
            pg.wait_for_function("document.getElementById('kv-result').className !== 'result'", timeout=MS)
            assert str(pg.text_content("#kv-result")).startswith("put ok"), pg.text_content("#kv-result")
            pg.click("#get")
            pg.wait_for_function(
                "document.getElementById('kv-result').textContent.includes('on real etcd')", timeout=MS
            )
            assert "ms" in str(pg.text_content("#kv-result"))
            assert watch.errors == [] and watch.foreign == []
            browser.close()
        members = [c for c in psutil.Process(server.proc.pid).children(recursive=True) if "etcd" in c.name()]
        assert len(members) == 2  # the killed one is gone already
        data = {Path(a.split("=", 1)[1]) for m in members for a in m.cmdline() if a.startswith("--data-dir")}
        assert data and all(d.exists() for d in data)
    # Ctrl-C stopped the server, every member it started, and removed their data
    assert server.proc.returncode == 0, "".join(server.stderr)
    assert "every etcd member stopped" in "".join(server.stderr)
    assert not any(m.is_running() and m.status() != psutil.STATUS_ZOMBIE for m in members)
    assert not any(d.exists() for d in data)
