"""Issue 14, "every output true": reports, summaries and traces say what happened."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from etcdplay import metrics
from etcdplay import scenario as scenarios
from etcdplay.report import figures
from etcdplay.runner import RunResult, make_header, run_scenario
from etcdplay.sim.backend import SimBackend
from etcdplay.trace import TraceWriter

ROOT = Path(__file__).resolve().parents[1]


def etcdplay(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "etcdplay", *args], capture_output=True, text=True, cwd=cwd, timeout=timeout
    )


def simulate(sc: scenarios.Scenario, seed: int) -> RunResult:
    expanded = sc.expanded(seed)
    return run_scenario(expanded, SimBackend(), seed, TraceWriter(make_header(expanded, seed, "sim")))


# --- item 1: restarted members are drawn up again ---------------------------------------------


@pytest.mark.parametrize(("name", "seed", "restarted"), [("follower-failures", 7, ["n3", "n4"])])
def test_restarted_members_are_not_drawn_down_to_the_end(name: str, seed: int, restarted: list[str]) -> None:
    result = simulate(scenarios.load(name), seed)
    end = metrics.end_time(result.trace)
    for node in restarted:
        spans = [s for s in metrics.role_spans(result.trace) if s.row == node]
        down = [s for s in spans if s.label == "down"]
        assert down, f"{node} was crashed"
        # the down span ends at the restart, long before the end of the run
        assert all(s.end < end - 1.0 for s in down), down
        assert spans[-1].label in ("follower", "leader")


def test_every_restart_in_chaos_brings_a_role_event() -> None:
    result = simulate(scenarios.load("chaos"), 42)
    events = result.trace.events
    for fault in (e for e in events if e["kind"] == "fault" and e["action"] == "restart"):
        for node in fault["nodes"]:
            assert any(
                e["kind"] == "role" and e.get("node") == node and e["role"] != "down" and e["t"] == fault["t"]
                for e in events
            ), (node, fault)


# --- item 2: failed writes at their send time, an axis for the real latencies ------------------


def test_client_panel_draws_writes_when_sent() -> None:
    result = simulate(scenarios.load("leader-failure"), 7)
    fig = figures.client(result.trace)
    failed = next(t for t in fig.data if str(t.name).startswith("write failed"))
    ok = next(t for t in fig.data if t.name == "write ok")
    windows = metrics.unavailability_windows(result.trace)
    assert windows
    # every failed write was sent inside (or right at the edge of) an outage
    for x in failed.x:
        assert any(a - 0.5 <= x <= b + 0.5 for a, b in windows), (x, windows)
    # the axis is scaled to the successful writes (a few ms), not the 7 s timeouts
    top = fig.layout.yaxis.range[1]
    assert top < 10 * float(np.max(ok.y)), top
    assert max(failed.y) <= top


# --- item 3: GET results are recorded and shown -------------------------------------------------

GET_PUT = """
name = "getput"
description = "put then get"
[[steps]]
at = 0.0
action = "wait-for-leader"
[[steps]]
at = 1.0
action = "put"
key = "a"
value = "hello"
[[steps]]
at = 1.5
action = "get"
key = "a"
[[steps]]
at = 1.6
action = "get"
key = "missing"
"""


def test_get_results_in_trace_summary_and_report(tmp_path: Path) -> None:
    (tmp_path / "gp.toml").write_text(GET_PUT)
    run = etcdplay("simulate", "gp.toml", "--out", "gp.jsonl", "--report", "gp.html", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    events = [json.loads(line) for line in (tmp_path / "gp.jsonl").read_text().splitlines()]
    steps = [e for e in events if e["kind"] == "client" and e.get("source") == "step"]
    assert [(e["op"], e["key"], e["value"]) for e in steps] == [
        ("put", "a", "hello"),
        ("get", "a", "hello"),
        ("get", "missing", None),
    ]
    assert "Client operations of the steps" in run.stdout
    assert "(no such key)" in run.stdout
    page = (tmp_path / "gp.html").read_text()
    assert 'id="step-ops"' in page and "<td>hello</td>" in page


# --- item 4: a blocked step shifts the schedule loudly; converged needs a quorum ---------------

LATE = """
name = "late"
description = "a put without quorum blocks"
[[steps]]
at = 0.0
action = "wait-for-leader"
[[steps]]
at = 1.0
action = "crash"
target = "followers:2"
[[steps]]
at = 1.5
action = "put"
key = "a"
value = "x"
[[steps]]
at = 2.0
action = "expect"
expect = "converged"
within = 0.5
"""


def test_late_step_is_said_and_converged_needs_a_quorum(tmp_path: Path) -> None:
    (tmp_path / "late.toml").write_text(LATE)
    run = etcdplay("simulate", "late.toml", "--out", "late.jsonl", cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    assert "late step: step 3 (expect)" in " ".join(run.stdout.split())
    assert "tNone" not in run.stdout + run.stderr
    assert "no quorum" in run.stderr
    events = [json.loads(line) for line in (tmp_path / "late.jsonl").read_text().splitlines()]
    expect = next(e for e in events if e["kind"] == "step" and e["action"] == "expect")
    assert expect["late"] > 5.0
    on_time = [e for e in events if e["kind"] == "step" and e["action"] != "expect"]
    assert all("late" not in e for e in on_time)
    check = next(e for e in events if e["kind"] == "check" and e["name"] == "expect:converged")
    assert check["ok"] is False


# --- item 5 and 7: formats by suffix, "wrote FILE", no <memory> --------------------------------


def test_output_formats_follow_the_suffix(tmp_path: Path) -> None:
    run = etcdplay("simulate", "leader-failure", "-q", "--out", str(tmp_path / "run.html"))
    assert run.returncode == 2 and "JSON Lines" in run.stderr
    run = etcdplay("simulate", "leader-failure", "-q", "--report", str(tmp_path / "run.pdf"))
    assert run.returncode == 2 and ".html or .png" in run.stderr
    assert list(tmp_path.iterdir()) == []
    trace = tmp_path / "run.jsonl"
    report = tmp_path / "run-report.html"
    run = etcdplay("simulate", "leader-failure", "-q", "--out", str(trace), "--report", str(report))
    assert run.returncode == 0, run.stderr
    assert f"wrote {trace}" in run.stderr and f"wrote {report}" in run.stderr
    page = report.read_text()
    assert "&lt;memory&gt;" not in page and f"source: {trace}" in page
    run = etcdplay("report", str(trace), "-o", str(tmp_path / "x.pdf"))
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert not (tmp_path / "x.pdf").exists()
    run = etcdplay("report", str(trace), "-o", str(tmp_path / "again.html"))
    assert run.returncode == 0 and "wrote" in run.stderr


def test_help_and_explain_read_as_prose() -> None:
    run = etcdplay("simulate", "--help")
    assert "<bool>" not in run.stdout
    # rich boxes the help: read it without the box's borders, across its wraps
    assert "default: (1, or the replayed trace's seed)" in " ".join(run.stdout.replace("│", " ").split())
    run = etcdplay("scenarios", "chaos", "--explain")
    line = " ".join(run.stdout[run.stdout.index("+ a random fault schedule") :].split())
    assert "{" not in line and "'" not in line and "kinds = crash, stop" in line


def test_png_keeps_legends_and_axis_titles() -> None:
    from etcdplay.report.png import stack

    result = simulate(scenarios.load("leader-failure"), 7)
    panels = list(figures.panels(result.trace).values())
    fig = stack(panels, "t")
    assert fig.layout.showlegend is not False
    legends = {tr.legend for tr in fig.data if tr.showlegend is not False}
    assert len(legends) == len(panels)
    assert fig.layout.xaxis.title.text == "time (s)"
    assert fig.layout.yaxis2.title.text == "term"


# --- item 9: the README example runs on both backends (its etcd flags, here) ------------------


def test_example_scenario_has_etcd_flags() -> None:
    from etcdplay.live.backend import raft_flags
    from etcdplay.live.etcd import EtcdBinary

    sc = scenarios.load(str(ROOT / "examples" / "my-scenario.toml"))
    flags, notes = raft_flags(sc.cluster, EtcdBinary("/usr/bin/etcd", (3, 4, 23)))
    assert flags.election_timeout_ms >= 5 * flags.heartbeat_ms
    assert any("heartbeat" in n for n in notes)


# --- item 17: the built-ins pass on every seed ---------------------------------------------------


@pytest.mark.parametrize("name", scenarios.builtin_names())
def test_builtins_pass_over_many_seeds(name: str) -> None:
    # 300 seeds of every built-in: benchmarks/builtin_seeds.py; here a slice,
    # with flaky-network's seed 5 (its final read was lost on the network)
    seeds = list(range(1, 13)) + ([5, 101, 202] if name == "flaky-network" else [])
    base = scenarios.load(name)
    failed = {seed: simulate(base, seed).failed for seed in seeds}
    assert not {s: f for s, f in failed.items() if f}


# --- item 6: compare prints its table, names both failover causes, labels sides, sorts seeds ---


def test_compare_prints_the_headline_table(tmp_path: Path) -> None:
    from tests.clirun import run_cli

    data = ROOT / "tests" / "data"
    ran = run_cli(
        "compare",
        str(data / "sim-leader-failure.jsonl"),
        str(data / "live-leader-failure.jsonl"),
        "-o",
        str(tmp_path / "c.html"),
    )
    assert ran.code == 0, ran.stderr
    text = " ".join(ran.stdout.split())
    assert "Headline numbers" in text and "live - sim" in text
    assert "n2 / crash n1" in text  # both causes of the first failover (wrapped in the cell)
    assert f"wrote {tmp_path / 'c.html'}" in ran.stderr


def test_many_runs_view_labels_the_sides_and_sorts_seeds(tmp_path: Path) -> None:
    from etcdplay.report.compare import Side, render_compare, sorted_seeds

    sc = scenarios.load("partition-minority")
    runs = [simulate(sc, seed).trace for seed in (10, 2, 1)]
    assert sorted_seeds(runs) == [1, 2, 10]
    page = render_compare(Side("sim", runs[:2]), Side("live", runs[1:]))
    assert "median live - sim" in page and "median B - A" not in page
    assert "seeds 1, 2" in page and "seeds 2, 10" in page
