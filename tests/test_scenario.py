"""Scenario files: built-ins load, and every mistake names file, step and field."""

from __future__ import annotations

import pytest

from etcdplay import scenario as sc
from etcdplay.scenario import ScenarioError

BASE = """
name = "t"
[cluster]
size = 3
"""


def load_text(text: str) -> sc.Scenario:
    return sc.from_toml(text, "my.toml")


def error_of(text: str) -> str:
    with pytest.raises(ScenarioError) as info:
        load_text(text)
    return str(info.value)


def test_every_builtin_loads_and_explains_itself() -> None:
    names = sc.builtin_names()
    for required in (
        "follower-failures",
        "leader-failure",
        "all-node-failures",
        "partition-minority",
        "partition-leader",
        "flaky-network",
        "chaos",
    ):
        assert required in names
    for name in names:
        scenario = sc.load(name)
        assert scenario.name == name
        assert len(scenario.explain.split()) > 40, f"{name} needs a real explanation"
        assert scenario.description


def test_unknown_field_names_file_step_and_field() -> None:
    message = error_of(BASE + '[[steps]]\nat = 1\naction = "crash"\ntarget = "n1"\ncolour = "red"\n')
    assert "my.toml" in message
    assert "steps[0] (crash" in message
    assert "colour: unknown field" in message


def test_unknown_action_lists_the_actions() -> None:
    message = error_of(BASE + '[[steps]]\nat = 1\naction = "explode"\n')
    assert "steps[0]" in message and "unknown action" in message and "crash" in message


def test_bad_target_is_named() -> None:
    message = error_of(BASE + '[[steps]]\nat = 1\naction = "crash"\ntarget = "n9"\n')
    assert "steps[0]" in message and "n9" in message and "cluster of 3" in message
    message = error_of(BASE + '[[steps]]\nat = 1\naction = "crash"\ntarget = "boss"\n')
    assert "'boss' is neither a node name" in message


def test_time_out_of_order() -> None:
    steps = '[[steps]]\nat = 5\naction = "heal"\n[[steps]]\nat = 2\naction = "heal"\n'
    message = error_of(BASE + steps)
    assert "steps[1]" in message and "comes before" in message


def test_partition_naming_a_node_twice() -> None:
    message = error_of(BASE + '[[steps]]\nat = 1\naction = "partition"\ngroups = [["n1"], ["n2", "n1"]]\n')
    assert "'n1' is named twice" in message


def test_size_zero_and_bad_timers() -> None:
    assert "cluster.size" in error_of("[cluster]\nsize = 0\n")
    assert "at least 5 x heartbeat" in error_of("[cluster]\nheartbeat_ms = 300\nelection_timeout_ms = 1000\n")
    assert "one number" in error_of("[cluster]\nelection_timeout_ms = [150, 300]\n")
    text = '[cluster]\ntimer = "uniform"\nelection_timeout_ms = [150, 300]\nheartbeat_ms = 50\n'
    assert load_text(text).cluster.election_range_ms == (150, 300)


def test_bad_distribution_and_toml() -> None:
    assert "unknown distribution 'gauss'" in error_of('[network]\nlatency_ms = "gauss(1,2)"\n')
    assert "not valid TOML" in error_of("[cluster\n")


def test_missing_file_and_unknown_name() -> None:
    with pytest.raises(ScenarioError, match="no such scenario file"):
        sc.load("nothere.toml")
    with pytest.raises(ScenarioError, match="unknown scenario 'nothere'"):
        sc.load("nothere")


def test_chaos_expands_deterministically_from_the_seed() -> None:
    chaos = sc.load("chaos")
    a, b, c = chaos.expanded(1), chaos.expanded(1), chaos.expanded(2)
    assert a.to_dict() == b.to_dict()
    assert a.to_dict() != c.to_dict()
    assert a.chaos is None and len(a.steps) > len(chaos.steps)
    times = [s.at for s in a.steps]
    assert times == sorted(times)
    # the expanded scenario validates again as a plain scenario: it is what replay runs
    again = sc.from_dict(a.to_dict())
    assert again.to_dict() == a.to_dict()
