"""Sweeps on the real simulator: determinism across --jobs and Dask, plausible
numbers, the live failover procedure run on the simulator's backend, scenario
sweeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_sweep_cli import app, runner

from etcdplay.sim.backend import SimBackend
from etcdplay.sweep.failover import FailoverConfig
from etcdplay.sweep.live_trials import run_trials

FAILOVER = [
    "sweep",
    "failover",
    "-e",
    "150-151",
    "-e",
    "150-300",
    "--stale-followers",
    "1",
    "--trials",
    "40",
    "--seed",
    "3",
    "--no-progress",
]


def _samples(path: Path) -> list[list[dict[str, object]]]:
    return [c["samples"] for c in json.loads(path.read_text())["configurations"]]


@pytest.mark.slow
def test_same_bytes_with_jobs_1_and_2(tmp_path: Path) -> None:
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    for jobs, path in (("1", one), ("2", two)):
        result = runner.invoke(app, [*FAILOVER, "--jobs", jobs, "--json", str(path)])
        assert result.exit_code == 0, result.output
    assert one.read_bytes() == two.read_bytes()
    doc = json.loads(one.read_text())
    uniform = doc["configurations"][1]
    downtimes = [s["downtime_ms"] for s in uniform["samples"]]
    # Timers start at the last heartbeat, the crash comes within one heartbeat
    # (75 ms) after it: no election can finish before 150 - 75 ms.
    assert min(downtimes) >= 75.0
    assert uniform["summary"]["downtime_ms"]["p50"] < 300.0
    assert all(s["winner"] not in (None, "") for s in uniform["samples"])
    assert doc["configurations"][0]["summary"]["split_vote_rate"] > uniform["summary"]["split_vote_rate"]


@pytest.mark.slow
def test_dask_cluster_gives_the_same_bytes(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    local, remote = tmp_path / "local.json", tmp_path / "dask.json"
    result = runner.invoke(app, [*FAILOVER, "--jobs", "1", "--json", str(local)])
    assert result.exit_code == 0, result.output
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        result = runner.invoke(
            app,
            [*FAILOVER, "--cluster", cluster.scheduler_address, "--chunk-size", "7", "--json", str(remote)],
        )
    assert result.exit_code == 0, result.output
    assert remote.read_bytes() == local.read_bytes()


def test_unreachable_dask_scheduler_is_bad_input() -> None:
    result = runner.invoke(app, [*FAILOVER, "--cluster", "tcp://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "cannot reach the Dask scheduler" in result.output


def test_live_procedure_on_the_simulator_backend() -> None:
    config = FailoverConfig(nodes=5, timer="etcd", election_timeout_ms=1000.0, heartbeat_ms=100.0)
    samples = list(run_trials(config, [1, 2, 3], SimBackend(check_safety=False)))
    assert len(samples) == 3
    for sample in samples:
        assert sample["downtime_ms"] is not None
        # etcd draws timeouts from [1000, 2000) ms, counted from the last heartbeat.
        assert 900.0 <= sample["downtime_ms"] <= 2300.0
        assert sample["first_candidate_ms"] <= sample["downtime_ms"]
        assert sample["rounds"] >= 1 and sample["messages"] is None
        assert sample["winner"] is not None


SCENARIO = """
name = "tiny-failover"
settle = 1.0
[cluster]
size = 3
heartbeat_ms = 50
election_timeout_ms = 500
[[steps]]
at = 0.0
action = "wait-for-leader"
[[steps]]
at = 1.0
action = "put"
key = "a"
value = "1"
[[steps]]
at = 1.5
action = "crash"
target = "leader"
[[steps]]
at = 3.5
action = "restart"
"""


@pytest.mark.slow
def test_scenario_sweep_runs_the_grid(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(SCENARIO)
    outs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"s{jobs}.json"
        result = runner.invoke(
            app,
            [
                "sweep",
                "scenario",
                str(scenario),
                "--seeds",
                "3",
                "--seed",
                "10",
                "--set",
                "cluster.election_timeout_ms=300,600",
                "--jobs",
                jobs,
                "--json",
                str(out),
                "--plot",
                str(tmp_path / "s.html"),
                "--no-progress",
            ],
        )
        assert result.exit_code == 0, result.output
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    doc = json.loads(outs[0])
    assert doc["experiment"] == "scenario" and doc["options"]["swept"] == ["cluster.election_timeout_ms"]
    assert [c["params"] for c in doc["configurations"]] == [
        {"cluster.election_timeout_ms": 300},
        {"cluster.election_timeout_ms": 600},
    ]
    for config in doc["configurations"]:
        assert [s["seed"] for s in config["samples"]] == [10, 11, 12]
        for sample in config["samples"]:
            assert sample["leader_changes"] >= 1
            assert sample["writes_acked"] == 1
            # (Not asserted to be 0: at the time of writing the final read right
            # after the restart can fail on the simulator, which is the kind of
            # finding a sweep is for.)
            assert sample["check_failures"] == len(sample["failed_checks"])
            assert sample["unavailable_s"] > 0
    fast, slow = (c["summary"]["metrics"]["election_ms"]["mean"] for c in doc["configurations"])
    assert fast < slow
    assert "Plotly.newPlot" in (tmp_path / "s.html").read_text()
