"""``etcdplay web`` in a real headless Chromium: a person plays with the cluster.

One server (a simulated 5-node cluster) serves the tests of this module in
order, as one person's session would go: look, kill the leader, partition,
stress, put and get, scrub back in time, download and replay.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright import sync_api
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from web_server import PATIENCE, ROOT, PageWatch, WebServer, launch_chromium, web_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


MS = int(PATIENCE * 1000)


@pytest.fixture(scope="module")
def server() -> Iterator[WebServer]:
    with web_server("--seed", "11", "--size", "5") as s:
        yield s
    assert s.proc.returncode == 0, "".join(s.stderr)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser: Any, server: WebServer) -> Iterator[tuple[Any, PageWatch]]:
    context = browser.new_context(
        viewport={"width": 1500, "height": 1300}, accept_downloads=True, bypass_csp=True
    )
    pg = context.new_page()
    pg.set_default_timeout(MS)
    watch = PageWatch(pg, server.origin)
    pg.goto(server.url)
    yield pg, watch
    context.close()


def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("ETCDPLAY_TEST_ARTIFACTS")
    path = Path(where) if where else tmp_path_factory.getbasetemp() / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


def leader(pg: Any) -> str:
    return str(pg.text_content("#leader")).strip()


def wait_js(pg: Any, expression: str, arg: Any = None) -> None:
    pg.wait_for_function(expression, arg=arg, timeout=MS)


def role_of(pg: Any, node: str) -> str:
    return str(pg.get_attribute(f'#cluster g.node[data-node="{node}"]', "data-role"))


def test_the_page_shows_the_cluster_with_messages_timers_and_charts(page: Any) -> None:
    pg, _watch = page
    wait_js(pg, "document.getElementById('leader').textContent.startsWith('n')")
    assert pg.locator("#members tbody tr").count() == 5
    assert pg.text_content("#mode") == "simulator"
    assert pg.text_content("#seed") == "11"
    # messages fly: dots drawn between members, moving from frame to frame
    wait_js(pg, "window.__etcdplay.stats.flightsMoved > 20 && window.__etcdplay.drawnFlights > 0")
    assert pg.locator("#cluster circle.msg").count() > 0
    # followers' election timers run down (the ring shrinks)
    follower = next(n for n in ("n1", "n2", "n3", "n4", "n5") if n != leader(pg))
    ring = f'#cluster g.node[data-node="{follower}"] circle.timer'
    first = pg.get_attribute(ring, "stroke-dasharray")
    wait_js(
        pg,
        "([sel, first]) => document.querySelector(sel).getAttribute('stroke-dasharray') !== first",
        [ring, first],
    )
    # the logs have entries coloured by term, with the commit point
    wait_js(pg, "document.querySelectorAll('#logs .e').length >= 5")
    assert pg.locator("#logs .commit").count() >= 4
    # the charts grow as time passes
    points = "document.getElementById('chart-commit').data[0].x.length"
    wait_js(pg, f"window.Plotly && document.getElementById('chart-commit').data && {points} > 3")
    before = pg.evaluate(points)
    wait_js(pg, f"{points} > {before}")
    assert pg.locator("#chart-term .main-svg").count() >= 1


def test_kill_the_leader_and_a_new_one_is_elected(page: Any) -> None:
    pg, _ = page
    old = leader(pg)
    pg.select_option("#node", old)
    pg.click("button[data-act=kill]")
    wait_js(
        pg,
        "(old) => { const l = document.getElementById('leader').textContent; "
        "return l.startsWith('n') && l !== old; }",
        old,
    )
    assert role_of(pg, old) == "down"
    assert f"crash {old}" in str(pg.text_content("#played"))
    assert "became leader" in str(pg.text_content("#events"))
    # remember the past for the time-travel test
    t_kill = float(pg.text_content("#played li").split(" s ")[0])
    pg.evaluate("([old, t]) => { window.__old = {leader: old, t: t}; }", [old, t_kill])
    pg.click("button[data-act=restart]")
    wait_js(
        pg,
        "(old) => document.querySelector(`#cluster g.node[data-node='${old}']`).dataset.role !== 'down'",
        old,
    )


def test_partition_and_heal(page: Any) -> None:
    pg, _ = page
    pg.fill("#groups", "n1,n2 | n3,n4,n5")
    pg.click("#partition")
    wait_js(pg, "document.querySelectorAll('#cluster line.link.cut').length === 6")
    # the event names the groups (not every member, then the groups again)
    assert "fault: partition n1,n2 | n3,n4,n5" in str(pg.text_content("#events"))
    # messages across the cut are dropped (drawn red)
    wait_js(pg, "document.querySelector('#cluster circle.msg[fill=\"#c62f2f\"]') !== null")
    pg.click("#heal")
    wait_js(pg, "document.querySelectorAll('#cluster line.link.cut').length === 0")
    wait_js(pg, "document.getElementById('quorum').textContent === 'quorum'")


def test_stress_at_a_member(page: Any) -> None:
    pg, _ = page
    pg.fill("#stress-count", "150")
    pg.select_option("#stress-node", "n3")
    pg.click("#stress")
    wait_js(pg, "document.getElementById('events').textContent.includes('writes end: 150 acked')")
    # every member ends with the keys, and the write latency chart has the writes
    wait_js(
        pg,
        "[...document.querySelectorAll('#members tbody tr')].every("
        "r => Number(r.children[7].textContent) >= 150)",
    )
    wait_js(pg, "document.getElementById('chart-latency').data[0].x.length >= 150")
    wait_js(pg, "document.getElementById('hashes').textContent === 'hashes agree'")


def test_put_then_get_shows_value_and_latency(page: Any) -> None:
    pg, _ = page
    pg.fill("#key", "greeting")
    pg.fill("#value", "hello, raft")
    pg.select_option("#kv-node", "n2")
    pg.click("#put")
    wait_js(pg, "document.getElementById('kv-result').textContent.startsWith('put ok')")
    assert "ms" in str(pg.text_content("#kv-result"))
    pg.click("#get")
    wait_js(pg, "document.getElementById('kv-result').textContent.includes('\"hello, raft\"')")
    result = str(pg.text_content("#kv-result"))
    assert "ms" in result and "via n2" in result


def test_a_bad_request_is_explained_and_the_server_goes_on(page: Any) -> None:
    pg, _ = page
    pg.fill("#groups", "n1,n9 | n2")
    pg.click("#partition")
    wait_js(
        pg,
        "!document.getElementById('notice').hidden && "
        "document.getElementById('notice').textContent.includes('n9')",
    )
    # a key that is not text (a lone surrogate cannot be UTF-8)
    pg.evaluate("document.getElementById('key').value = '\\ud800'")
    pg.click("#get")
    wait_js(pg, "document.getElementById('notice').textContent.includes('UTF-8')")
    pg.fill("#key", "greeting")
    pg.click("#get")
    wait_js(pg, "document.getElementById('kv-result').textContent.includes('hello, raft')")


def test_results_and_the_event_log_read_well(page: Any) -> None:
    pg, _ = page
    # a key never written: said in words, not "value null"
    pg.fill("#key", "never-written")
    pg.click("#get")
    wait_js(pg, "document.getElementById('kv-result').textContent.startsWith('never-written: no such key')")
    # a put refused before it ran does not leave "put …" behind
    pg.fill("#key", "")
    pg.click("#put")
    wait_js(pg, "document.getElementById('kv-result').textContent.includes('non-empty')")
    assert pg.get_attribute("#kv-result", "class") == "result bad"
    # the notice floats over the page: showing and hiding it moves no button
    assert pg.is_visible("#notice")
    shown = pg.evaluate("document.getElementById('act').getBoundingClientRect().top")
    pg.evaluate("document.getElementById('notice').hidden = true")
    assert pg.evaluate("document.getElementById('act').getBoundingClientRect().top") == shown
    # every row of the event log is a table row, whatever its kind ("role"
    # and "note" are also the names of other things' styles)
    rows = pg.evaluate(
        "[...document.querySelectorAll('#events tbody tr')].map(r => "
        "[r.className, getComputedStyle(r).display, getComputedStyle(r).backgroundColor])"
    )
    assert {c for c, _, _ in rows} >= {"ev-role", "ev-leader", "ev-fault"}
    assert {(d, b) for _, d, b in rows} == {("table", "rgba(0, 0, 0, 0)")}
    # a time of hours still fits its column on one line
    fits = pg.evaluate(
        "() => { const td = document.querySelector('#events tbody td.t'); td.textContent = '10000.000'; "
        "const r = document.createRange(); r.selectNodeContents(td); "
        "return [r.getClientRects().length, td.scrollWidth <= td.clientWidth]; }"
    )
    assert fits == [1, True]


def test_scrub_back_to_see_the_old_leader(page: Any) -> None:
    pg, _ = page
    past = pg.evaluate("window.__old")
    t = past["t"] - 0.05
    pg.evaluate(
        "(t) => { const s = document.getElementById('slider'); s.value = t; "
        "s.dispatchEvent(new Event('input')); }",
        t,
    )
    # wait for the scrub itself: the old leader may also be the current one
    # (the earlier tests moved the cluster on), so its name alone proves nothing
    wait_js(
        pg,
        "([old, t]) => document.getElementById('scrub-state').textContent.includes('viewing') && "
        "Math.abs(parseFloat(document.getElementById('clock').textContent) - t) < 0.01 && "
        "document.getElementById('leader').textContent === old",
        [past["leader"], t],
    )
    assert role_of(pg, past["leader"]) == "leader"
    pg.click("#golive")
    wait_js(pg, "document.getElementById('scrub-state').textContent === 'live'")


def test_several_tabs_see_the_same_cluster(browser: Any, server: WebServer, page: Any) -> None:
    pg, _ = page
    other = browser.new_page(bypass_csp=True)
    other.set_default_timeout(MS)
    watch = PageWatch(other, server.origin)
    other.goto(server.url)
    wait_js(other, "document.getElementById('leader').textContent.startsWith('n')")
    pg.select_option("#node", "n5")
    pg.click("button[data-act=stop]")
    wait_js(other, "document.querySelector(\"#cluster g.node[data-node='n5']\").dataset.role === 'down'")
    assert "stop n5" in str(other.text_content("#played"))
    assert leader(other) == leader(pg)
    pg.click("button[data-act=restart]")
    wait_js(other, "document.querySelector(\"#cluster g.node[data-node='n5']\").dataset.role !== 'down'")
    assert watch.errors == [] and watch.foreign == []
    other.close()


def test_download_the_trace_and_replay_it(
    page: Any, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    pg, watch = page
    pg.click("#pause")
    wait_js(pg, "document.getElementById('pause').textContent === 'resume'")
    pg.screenshot(path=str(artifacts_dir(tmp_path_factory) / "web-play.png"), full_page=True)
    with pg.expect_download(timeout=MS) as download:
        pg.click("#dl-trace")
    played = tmp_path / "played.jsonl"
    download.value.save_as(played)
    with pg.expect_download(timeout=MS) as scen:
        pg.click("#dl-scenario")
    toml = tmp_path / "played.toml"
    scen.value.save_as(toml)
    assert "seed 11" in toml.read_text()
    replayed = tmp_path / "replayed.jsonl"
    subprocess.run(
        [sys.executable, "-m", "etcdplay", "simulate", "--replay", str(played), "--out", str(replayed), "-q"],
        check=True,
        timeout=600,
        cwd=str(ROOT),
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    ours = [json.loads(line) for line in played.read_text().splitlines()]
    theirs = [json.loads(line) for line in replayed.read_text().splitlines()]
    end = ours[-1]["t"]
    assert [e for e in theirs[1:] if e["t"] < end] == [e for e in ours[1:] if e["t"] < end]
    assert any(e["kind"] == "fault" and e["action"] == "partition" for e in theirs)
    pg.click("#pause")
    # nothing on this page went wrong, and nothing left the machine
    assert watch.errors == []
    assert watch.foreign == []


def test_branch_from_a_past_moment(page: Any) -> None:
    pg, _ = page
    past = pg.evaluate("window.__old")
    hellos = pg.evaluate("window.__etcdplay.stats.hellos")
    t = past["t"] - 0.05
    pg.evaluate(
        "(t) => { const s = document.getElementById('slider'); s.value = t; "
        "s.dispatchEvent(new Event('input')); }",
        t,
    )
    wait_js(pg, "!document.getElementById('branch').disabled")
    pg.click("#branch")
    wait_js(pg, f"window.__etcdplay.stats.hellos > {hellos}")
    # the new history has none of the later actions: the old leader was never killed
    wait_js(pg, "document.querySelectorAll('#played li').length === 0")
    wait_js(pg, "(old) => document.getElementById('leader').textContent === old", past["leader"])
    assert pg.text_content("#scrub-state") == "live"


def test_a_lesson_with_its_prose_pause_step_and_speed(browser: Any) -> None:
    with web_server("--scenario", "leader-failure", "--seed", "3") as s:
        pg = browser.new_page(viewport={"width": 1400, "height": 1100}, bypass_csp=True)
        pg.set_default_timeout(MS)
        watch = PageWatch(pg, s.origin)
        pg.goto(s.url)
        wait_js(pg, "!document.getElementById('lesson').hidden")
        assert "Raft keeps one leader per term" in str(pg.text_content("#explain"))
        assert pg.locator("#lesson-steps li").count() == 6
        # the leader crashes at t=3: its step is marked done, with its prose
        wait_js(
            pg, "document.querySelectorAll('#lesson-steps li.done, #lesson-steps li.current').length >= 3"
        )
        assert "The leader crashes" in str(pg.text_content("#lesson-steps"))
        pg.click("#pause")
        wait_js(pg, "document.getElementById('pause').textContent === 'resume'")
        frozen = float(str(pg.text_content("#clock")))
        # a step runs to the next message, vote or role change, which can be
        # less than the clock's 1 ms display away: step until the clock moves
        for _ in range(20):
            pg.click("#step")
            try:
                pg.wait_for_function(
                    "(t) => Number(document.getElementById('clock').textContent) > t",
                    arg=frozen,
                    timeout=5000,
                )
                break
            except PlaywrightTimeout:
                continue
        wait_js(pg, "(t) => Number(document.getElementById('clock').textContent) > t", frozen)
        pg.select_option("#speed", "0.5")
        wait_js(pg, "window.__etcdplay.info.speed === 0.5")
        pg.click("#pause")
        wait_js(pg, "document.getElementById('pause').textContent === 'pause'")
        assert watch.errors == [] and watch.foreign == []
        pg.close()


def test_replay_a_trace_file_in_the_page(browser: Any, tmp_path: Path) -> None:
    trace = tmp_path / "run.jsonl"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "etcdplay",
            "simulate",
            "partition-leader",
            "--seed",
            "2",
            "--messages",
            "--out",
            str(trace),
            "-q",
        ],
        check=True,
        timeout=600,
        cwd=str(ROOT),
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    with web_server("--trace", str(trace)) as s:
        pg = browser.new_page(bypass_csp=True)
        pg.set_default_timeout(MS)
        watch = PageWatch(pg, s.origin)
        pg.goto(s.url)
        wait_js(pg, "document.getElementById('mode').textContent.startsWith('replay')")
        wait_js(pg, "document.getElementById('leader').textContent.startsWith('n')")
        # the recorded messages reach the page (their animation is tested above)
        wait_js(pg, "window.__etcdplay.stats.messagesSeen > 50")
        assert pg.is_disabled("button[data-act=kill]")
        wait_js(pg, "document.getElementById('events').textContent.includes('fault: isolate')")
        assert watch.errors == [] and watch.foreign == []
        pg.close()


@pytest.mark.parametrize("size", [7, 25])
def test_a_larger_cluster_is_drawn_without_overlaps(browser: Any, size: int) -> None:
    with web_server("--size", str(size), "--seed", "2") as s:
        pg = browser.new_page(viewport={"width": 1280, "height": 800}, bypass_csp=True)
        pg.set_default_timeout(MS)
        pg.goto(s.url)
        wait_js(pg, "document.getElementById('leader').textContent.startsWith('n')")
        overlaps = pg.evaluate(
            "() => { const boxes = [...document.querySelectorAll('#cluster g.node')].map("
            "g => [g.dataset.node, g.getBoundingClientRect()]); const out = [];"
            "for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {"
            "const [a, p] = boxes[i], [b, q] = boxes[j];"
            "if (p.left < q.right - 1 && q.left < p.right - 1 && p.top < q.bottom - 1 && q.top < p.bottom - 1)"
            " out.push(a + '/' + b); } return out; }"
        )
        assert overlaps == []
        # every name is there to read (at least 9 px high on the page)
        heights = pg.evaluate(
            "[...document.querySelectorAll('#cluster g.node text.name')].map(t => t.getBoundingClientRect().height)"
        )
        assert len(heights) == size and min(heights) >= 9
        pg.close()
