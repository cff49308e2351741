"""--set grids over a scenario, and the per-run metrics of a scenario sweep."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from etcdplay.scenario import from_dict
from etcdplay.sweep.errors import SweepError
from etcdplay.sweep.overrides import expand, parse_set, point_label, split_values
from etcdplay.sweep.scenario_sweep import ScenarioAggregate, run_metrics
from etcdplay.trace import Trace

BASE = from_dict(
    {
        "name": "t",
        "cluster": {"size": 3, "timer": "etcd", "heartbeat_ms": 100, "election_timeout_ms": 1000},
        "steps": [{"at": 1.0, "action": "crash", "target": "leader"}, {"at": 3.0, "action": "restart"}],
    }
)


def test_split_values_respects_brackets() -> None:
    assert split_values("500,1000,2000") == ["500", "1000", "2000"]
    assert split_values("uniform(5,10),fixed(1)") == ["uniform(5,10)", "fixed(1)"]
    assert split_values("[150,300],[300,600]") == ["[150,300]", "[300,600]"]
    assert parse_set("cluster.pre_vote=true,false") == ("cluster.pre_vote", [True, False])
    assert parse_set("network.latency_ms=uniform(5,10), 'fixed(1)'") == (
        "network.latency_ms",
        ["uniform(5,10)", "fixed(1)"],
    )


def test_grid_is_the_product_last_fastest() -> None:
    swept, points, scenarios = expand(
        BASE, ["cluster.election_timeout_ms=500,1000", "network.latency_ms=fixed(1),uniform(5,10)"]
    )
    assert swept == ["cluster.election_timeout_ms", "network.latency_ms"]
    assert points[1] == {"cluster.election_timeout_ms": 500, "network.latency_ms": "uniform(5,10)"}
    assert scenarios[1].cluster.election_timeout_ms == 500
    assert scenarios[1].network.latency_ms == "uniform(5,10)"
    assert scenarios[3].cluster.election_timeout_ms == 1000
    assert point_label(points[1]) == "election_timeout_ms=500, latency_ms=uniform(5,10)"
    _, points, scenarios = expand(BASE, ["steps.0.at=0.5,2"])
    assert [s.steps[0].at for s in scenarios] == [0.5, 2.0]
    assert expand(BASE, [])[1] == [{}]


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("cluster.sizee=3", "cluster has no field 'sizee'"),
        ("cluster=3", "names a whole section"),
        ("cluster.size", "expected path=value"),
        ("cluster.size=", "empty value"),
        ("cluster.size=3,,5", "empty value"),
        ("cluster.size=0", "cluster.size: Input should be greater than or equal to 1"),
        ("network.latency_ms=uniform(5", "cannot read 'uniform(5'"),
        ("cluster.election_timeout_ms=300", "at least 5 x heartbeat_ms"),
        ("steps.9.at=1", "has 2 entries"),
        ("chaos.faults=3", "no [chaos] section"),
        ("cluster.size.x=1", "is a value"),
    ],
)
def test_bad_set_is_one_clear_line(option: str, message: str) -> None:
    with pytest.raises(SweepError) as info:
        expand(BASE, [option])
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_set_twice_is_refused() -> None:
    with pytest.raises(SweepError, match="given twice"):
        expand(BASE, ["cluster.size=3", "cluster.size=5"])


def test_run_metrics_from_events() -> None:
    events = [
        {"t": 0.0, "kind": "role", "node": "n1", "role": "candidate", "term": 1},
        {"t": 1.2, "kind": "role", "node": "n1", "role": "leader", "term": 1},
        {"t": 2.0, "kind": "client", "op": "put", "key": "a", "ok": True},
        {"t": 2.1, "kind": "client", "op": "put", "key": "b", "ok": False},
        {"t": 3.0, "kind": "fault", "action": "crash", "nodes": ["n1"]},
        {"t": 3.0, "kind": "role", "node": "n1", "role": "down", "term": 1},
        {"t": 4.0, "kind": "role", "node": "n2", "role": "candidate", "term": 2},
        {"t": 4.5, "kind": "role", "node": "n2", "role": "leader", "term": 2},
        {"t": 6.0, "kind": "fault", "action": "crash", "nodes": ["n2"]},
        {"t": 6.0, "kind": "role", "node": "n2", "role": "down", "term": 2},
        {"t": 6.5, "kind": "role", "node": "n3", "role": "leader", "term": 3},
        {"t": 6.6, "kind": "check", "name": "convergence", "ok": False},
        {"t": 6.6, "kind": "check", "name": "one-leader-per-term", "ok": True},
        {"t": 7.0, "kind": "end", "duration": 7.0, "ok": False},
    ]
    s = run_metrics(Trace(header={"kind": "header", "t": 0.0}, events=events))
    assert s["first_leader_ms"] == 1200.0
    assert s["leader_changes"] == 2
    assert s["elections_ms"] == [1500.0, 500.0]
    assert s["unavailable_s"] == 2.0
    assert s["election_ms"] == 1000.0
    assert (s["writes_acked"], s["writes_failed"]) == (1, 1)
    assert s["check_failures"] == 1 and s["failed_checks"] == ["convergence"]
    agg = ScenarioAggregate()
    agg.add(s)
    summary = agg.summary()
    assert summary["runs_failed"] == 1 and summary["failed_checks"] == {"convergence": 1}
    assert summary["elections_ms"]["count"] == 2
    assert summary["metrics"]["leader_changes"]["mean"] == 2.0


@pytest.mark.skipif(
    not (Path(__file__).parent.parent / "etcdplay" / "scenarios").is_dir(),
    reason="built-in scenarios not merged yet",
)
def test_scenario_command_bad_input(tmp_path: Path) -> None:
    from test_sweep_cli import app

    path = tmp_path / "s.toml"
    path.write_text("[cluster]\nsize = 3\n")
    runner = CliRunner(env={"COLUMNS": "200"})
    for args, message in (
        (["--set", "cluster.nope=1"], "no field 'nope'"),
        (["--set", "cluster.size=3,0"], "greater than or equal to 1"),
        (["--seeds", "0"], "--seeds must be at least 1"),
        (["--set", "chaos.faults=3"], "no [chaos] section"),
    ):
        result = runner.invoke(app, ["sweep", "scenario", str(path), "--no-progress", *args])
        assert result.exit_code == 2, result.output
        assert message in result.output
    result = runner.invoke(app, ["sweep", "scenario", str(tmp_path / "missing.toml")])
    assert result.exit_code == 2 and "no such scenario file" in result.output
