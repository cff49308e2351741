"""`sweep failover --backend live` against real etcd members, and compare."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_sweep_cli import app, runner

pytestmark = [
    pytest.mark.live,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("etcd") is None, reason="no etcd binary"),
]

FLAGS = ["--timer", "etcd", "-e", "500", "--heartbeat-ms", "50", "--nodes", "3", "--no-progress"]


def test_live_failover_and_compare_with_the_simulator(tmp_path: Path) -> None:
    live, sim = tmp_path / "live.json", tmp_path / "sim.json"
    result = runner.invoke(
        app, ["sweep", "failover", "--backend", "live", "--trials", "3", "--json", str(live), *FLAGS]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(live.read_text())
    assert doc["backend"] == "live"
    samples = doc["configurations"][0]["samples"]
    assert len(samples) == 3
    for sample in samples:
        # etcd draws timeouts in [500, 1000) ms from the last heartbeat it saw.
        assert sample["downtime_ms"] is not None and 300 < sample["downtime_ms"] < 5000
        assert sample["messages"] is None and sample["winner"]
    result = runner.invoke(
        app,
        [
            "sweep",
            "failover",
            "--trials",
            "50",
            "--jobs",
            "1",
            "--json",
            str(sim),
            "--compare",
            str(live),
            "--plot",
            str(tmp_path / "both.html"),
            *FLAGS,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "live (live.json)" in result.output
    assert "live (live.json): 500 ms" in (tmp_path / "both.html").read_text()


def test_live_failover_without_the_proxy(tmp_path: Path) -> None:
    live = tmp_path / "live.json"
    result = runner.invoke(
        app,
        ["sweep", "failover", "--backend", "live", "--no-proxy", "--trials", "2", "--json", str(live), *FLAGS],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(live.read_text())
    assert doc["options"]["proxy"] is False
    assert all(s["downtime_ms"] is not None for s in doc["configurations"][0]["samples"])
    refused = runner.invoke(app, ["sweep", "failover", "--no-proxy", "--trials", "2", *FLAGS])
    assert refused.exit_code == 2 and "--no-proxy: only with --backend live" in refused.output


def test_live_refuses_stale_followers() -> None:
    result = runner.invoke(
        app, ["sweep", "failover", "--backend", "live", "--trials", "1", "--stale-followers", "1", *FLAGS]
    )
    assert result.exit_code == 2
    assert "not possible on a live cluster" in result.output
