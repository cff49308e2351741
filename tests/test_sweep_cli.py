"""`etcdplay sweep` through typer's CliRunner: outputs and bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from sweep_fakes import fake_trial
from typer.testing import CliRunner

from etcdplay.sweep import failover as fo
from etcdplay.sweep.command import sweep_app

app = typer.Typer()
app.add_typer(sweep_app, name="sweep")


@app.callback()
def _root() -> None:
    """etcdplay (test root)."""


runner = CliRunner(env={"COLUMNS": "200"})


def _fake(config: fo.FailoverConfig, seed: int) -> dict[str, Any]:
    lo = config.election_timeout_ms[0] if isinstance(config.election_timeout_ms, tuple) else 0.0
    return fake_trial({"base": lo}, seed)


@pytest.fixture
def fake_sim(monkeypatch: pytest.MonkeyPatch) -> None:
    """The failover model replaced by a stand-in (in process: --jobs 1)."""
    monkeypatch.setattr(fo, "sim_trial", _fake)


def test_failover_table_json_plot(fake_sim: None, tmp_path: Path) -> None:
    out, cdf = tmp_path / "out.json", tmp_path / "cdf.html"
    result = runner.invoke(
        app,
        [
            "sweep",
            "failover",
            "--nodes",
            "5",
            "-e",
            "150-151",
            "-e",
            "150-300",
            "--latency-ms",
            "uniform(5,10)",
            "--disk-ms",
            "fixed(2)",
            "--stale-followers",
            "2",
            "--trials",
            "50",
            "--seed",
            "1",
            "--jobs",
            "1",
            "--json",
            str(out),
            "--plot",
            str(cdf),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "150-151 ms" in result.output and "150-300 ms" in result.output
    assert "p99.9" in result.output and "split" in result.output
    doc = json.loads(out.read_text())
    assert [c["label"] for c in doc["configurations"]] == ["150-151 ms", "150-300 ms"]
    params = doc["configurations"][1]["params"]
    assert params["election_timeout_ms"] == [150.0, 300.0]
    assert params["heartbeat_ms"] == 75.0  # half the smallest timeout
    assert params["latency_ms"] == "uniform(5,10)" and params["stale_followers"] == 2
    assert len(doc["configurations"][0]["samples"]) == 50
    assert "Plotly.newPlot" in cdf.read_text()


def test_grid_of_repeatable_options(fake_sim: None, tmp_path: Path) -> None:
    out = tmp_path / "grid.json"
    result = runner.invoke(
        app,
        [
            "sweep",
            "failover",
            "-e",
            "150-300",
            "-e",
            "300-600",
            "--latency-ms",
            "fixed(1)",
            "--latency-ms",
            "fixed(20)",
            "--nodes",
            "3",
            "--nodes",
            "5",
            "--trials",
            "3",
            "--jobs",
            "1",
            "--json",
            str(out),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    labels = [c["label"] for c in json.loads(out.read_text())["configurations"]]
    assert len(labels) == 8
    assert labels[0] == "n=3, 150-300 ms, lat fixed(1)"


def test_compare_files(fake_sim: None, tmp_path: Path) -> None:
    a, b = tmp_path / "sim.json", tmp_path / "live.json"
    for path, seed in ((a, "1"), (b, "2")):
        result = runner.invoke(
            app,
            [
                "sweep",
                "failover",
                "--trials",
                "20",
                "--seed",
                seed,
                "--jobs",
                "1",
                "--json",
                str(path),
                "--no-progress",
            ],
        )
        assert result.exit_code == 0, result.output
    doc = json.loads(b.read_text())
    doc["backend"] = "live"
    b.write_text(json.dumps(doc))
    html = tmp_path / "cmp.html"
    result = runner.invoke(app, ["sweep", "compare", str(a), str(b), "--plot", str(html)])
    assert result.exit_code == 0, result.output
    assert "sim (sim.json)" in result.output and "live (live.json)" in result.output
    text = html.read_text()
    assert "live (live.json): 150-300 ms" in text
    result = runner.invoke(
        app,
        [
            "sweep",
            "failover",
            "--trials",
            "20",
            "--jobs",
            "1",
            "--no-progress",
            "--compare",
            str(b),
            "--plot",
            str(tmp_path / "both.html"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "side by side" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--latency-ms", "uniform(5"], "--latency-ms: cannot read 'uniform(5'"),
        (["--disk-ms", "gamma(1,2)"], "unknown distribution 'gamma'"),
        (["-e", "300-150"], "lo <= hi"),
        (["-e", "fast"], "expected a range in ms"),
        (["--timer", "etcd", "-e", "150-300"], "the etcd timer takes one number"),
        (["--timer", "ticks"], "--timer 'ticks'"),
        (["--heartbeat-ms", "200"], "must be below the smallest election timeout"),
        (["--failed", "2"], "no majority"),
        (["--stale-followers", "4"], "--stale-followers 4"),
        (["--nodes", "2"], "at least 3 servers"),
        (["--trials", "0"], "--trials must be at least 1"),
        (["--jobs", "-1"], "--jobs must be >= 0"),
        (["--backend", "cloud"], "--backend 'cloud'"),
        (["--compare", "/nonexistent.json"], "no such file"),
    ],
)
def test_bad_failover_input_is_one_line_exit_2(fake_sim: None, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["sweep", "failover", "--trials", "2", "--jobs", "1", "--no-progress", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_compare_rejects_a_non_sweep_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"hello": 1}')
    result = runner.invoke(app, ["sweep", "compare", str(bad)])
    assert result.exit_code == 2
    assert "not a sweep result" in result.output
