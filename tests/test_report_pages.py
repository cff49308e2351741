"""Report and compare pages: figure content, table numbers, errors, and a real browser."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from etcdplay.report import ReportError, figures
from etcdplay.report.command import compare, report
from etcdplay.trace import read_trace

DATA = Path(__file__).parent / "data"
SIM = DATA / "sim-leader-failure.jsonl"
LIVE = DATA / "live-leader-failure.jsonl"


class Tables(HTMLParser):
    """Collect every <table id=...> as a list of rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._id: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._id = dict(attrs).get("id")
            self.tables[self._id] = []
        elif tag == "tr" and self._id:
            self.tables[self._id].append([])
        elif tag in ("td", "th") and self._id:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._id:
            self.tables[self._id][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._id = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables(path: Path) -> dict[str, list[list[str]]]:
    parser = Tables()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.tables


def test_figures_hold_the_trace():
    trace = read_trace(SIM)
    timeline = figures.timeline(trace)
    names = {tr.name for tr in timeline.data}
    assert {
        "follower",
        "pre-candidate",
        "candidate",
        "leader",
        "down",
        "crash",
        "partition",
        "fault events",
    } <= names
    leader = next(tr for tr in timeline.data if tr.name == "leader")
    assert list(leader.y) == ["n2", "n3"] and list(leader.base) == [1.25, 7.65]
    crash = next(tr for tr in timeline.data if tr.name == "crash")
    assert "#1 crash n2, undone by restart" in crash.hovertext[0]
    partition = next(tr for tr in timeline.data if tr.name == "partition")
    assert "partition n1 | n2,n3" in partition.hovertext[0]
    terms = figures.terms(trace)
    n3 = next(tr for tr in terms.data if tr.name == "n3")
    assert list(n3.y)[-1] == 3
    client = figures.client(trace)
    assert "5 writes, 1 failed; 3.900 s" in client.layout.title.text
    failed = next(tr for tr in client.data if tr.name.startswith("write failed"))
    assert "timeout" in failed.hovertext[0]


def test_report_page(tmp_path):
    out = report(SIM, tmp_path / "run.html")
    text = out.read_text(encoding="utf-8")
    assert text.count("* plotly.js v") == 1  # embedded once
    assert "<script src=" not in text
    assert "leader-failure (sim, seed 7)" in text and "1 check(s) failed" in text
    t = tables(out)
    elections = t["elections"]
    crash = next(r for r in elections if r[1] == "crash n2")
    assert crash[2:13] == ["5.000", "n2 (term 1)", "elected", "n3", "3", "2.650", "\u2013", "1.350", "2", "1", "3"]
    partition = next(r for r in elections if r[1].startswith("partition"))
    assert partition[4] == "kept"
    checks = {r[1]: r[0] for r in t["checks"][1:]}
    assert checks == {"one-leader-per-term": "held", "convergence": "held", "no-acked-write-lost": "FAILED"}
    assert 'class="failed"' in text
    assert ["time to first leader (s)", "1.250"] in t["summary"]
    assert ["n2", "yes", "follower", "3", "n3", "6", "6", "5", "4", "h4"] in t["final-status"]


def test_compare_pair(tmp_path):
    out = compare([str(SIM), str(LIVE)], out=tmp_path / "c.html")
    t = tables(out)["headline"]
    assert t[0] == ["measure", "sim", "live", "live - sim"]
    rows = {r[0]: r[1:] for r in t[1:]}
    assert rows["time to first leader (s)"] == ["1.250", "2.100", "0.850"]
    assert rows["failover #1 election time (s): crash n2 / crash n1"] == ["2.650", "1.100", "-1.550"]
    assert rows["leader changes"] == ["1", "1", "0"]
    assert rows["final keys n1"] == ["4", "3", "-1"]
    assert rows["hashes converged"] == ["yes", "yes", "same"]
    assert 'id="warning"' not in out.read_text(encoding="utf-8")


def test_compare_different_scenarios_warns(tmp_path):
    other = tmp_path / "other.jsonl"
    other.write_text(LIVE.read_text().replace('"name":"leader-failure"', '"name":"partition"'))
    out = compare([str(SIM), str(other)], out=tmp_path / "c.html")
    text = out.read_text(encoding="utf-8")
    assert 'id="warning"' in text and "Different scenarios" in text
    assert "failover #1" in text


def test_compare_distributions(tmp_path):
    runs = tmp_path / "sim"
    runs.mkdir()
    for i in range(3):
        shutil.copy(SIM, runs / f"s{i}.jsonl")
    out = compare(None, a=[str(runs)], b=[str(LIVE), str(DATA / "live-*.jsonl")], out=tmp_path / "d.html")
    t = tables(out)
    rows = {r[0]: r[1:] for r in t["distribution"][1:]}
    first = rows["time to first leader (s)"]
    assert first[0] == "3" and first[1] == "1.250" and first[4] == "1"  # live counted once
    assert first[5] == "2.100" and first[8] == "0.850"
    assert t["convergence"][1] == ["sim", "3", "3", "0", "3"]
    assert "fig-cdfs" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.jsonl", None, "no such trace file"),
        ("bad.jsonl", "this is not json\n", "not JSON"),
        ("empty.jsonl", "", "empty file"),
        ("header.jsonl", '{"t":0,"kind":"header","schema":1,"nodes":[]}\n', "no events"),
    ],
)
def test_bad_input_is_one_line(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(ReportError, match=message) as info:
        report(path, tmp_path / "out.html")
    assert "\n" not in str(info.value)


def test_compare_usage_errors(tmp_path):
    with pytest.raises(ReportError, match="two sides"):
        compare([str(SIM)], out=tmp_path / "c.html")
    with pytest.raises(ReportError, match="no trace file matches"):
        compare(None, a=[str(tmp_path / "nope-*.jsonl")], b=[str(LIVE)], out=tmp_path / "c.html")


def test_png_without_browser_points_to_html(tmp_path, monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-chrome"))
    with pytest.raises(ReportError, match=r"needs Chrome or Chromium.*-o .*run\.html"):
        report(SIM, tmp_path / "run.png")


BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def open_in_chromium(path: Path) -> dict:
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("no /usr/bin/chromium")
    url = path.resolve().as_uri()
    console: list[str] = []
    requests: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=BROWSER_ARGS)
        try:
            page = browser.new_page()
            page.on(
                "console",
                lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None,
            )
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(url, wait_until="load")
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length > 0")
            plots = page.evaluate("document.querySelectorAll('.js-plotly-plot').length")
            rendered = page.evaluate(
                "Array.from(document.querySelectorAll('.js-plotly-plot'))"
                ".filter(d => d.querySelector('.main-svg')).length"
            )
        finally:
            browser.close()
    return {"console": console, "requests": requests, "url": url, "plots": plots, "rendered": rendered}


@pytest.mark.browser
def test_report_opens_offline_in_chromium(tmp_path):
    result = open_in_chromium(report(SIM, tmp_path / "run.html"))
    assert result["console"] == []
    assert [u for u in result["requests"] if not u.startswith("data:")] == [result["url"]]
    assert result["plots"] == 5 and result["rendered"] == 5


@pytest.mark.browser
def test_compare_opens_offline_in_chromium(tmp_path):
    for out, plots in (
        (compare([str(SIM), str(LIVE)], out=tmp_path / "c.html"), 4),
        (compare(None, a=[str(SIM)], b=[str(LIVE), str(SIM)], out=tmp_path / "d.html"), 1),
    ):
        result = open_in_chromium(out)
        assert result["console"] == []
        assert [u for u in result["requests"] if not u.startswith("data:")] == [result["url"]]
        assert result["rendered"] == plots


@pytest.mark.browser
def test_png_export_with_local_chromium(tmp_path):
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("no /usr/bin/chromium")
    out = report(SIM, tmp_path / "run.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width == 1400 and height > 1000
    assert re.search(rb"IDAT", data)


def test_compare_says_live_start_includes_process_start_up(tmp_path):
    out = compare([str(SIM), str(LIVE)], out=tmp_path / "c.html")
    text = out.read_text(encoding="utf-8")
    assert "includes etcd&#x27;s process start-up" in text
    rows = {r[0]: r[1:] for r in tables(out)["headline"][1:]}
    # both failover times, each under its own name
    assert "failover #1 election time (s): crash n2 / crash n1" in rows
    assert "failover #1 downtime (s): crash n2 / crash n1" in rows
