"""Bad input gets one clear message and exit status 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def etcdplay(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "etcdplay", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[cluster]\nsize = 0\n", "cluster.size"),
        ('[[steps]]\nat = 1\naction = "crash"\ntarget = "n7"\n', "no node 'n7'"),
        ('[[steps]]\nat = 1\naction = "crash"\ntarget = "n1"\nwhen = 2\n', "when: unknown field"),
    ],
)
def test_bad_scenario_file(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content)
    result = etcdplay("simulate", str(path))
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr and str(path) in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_unknown_scenario_and_bad_replay(tmp_path: Path) -> None:
    result = etcdplay("simulate", "no-such-scenario")
    assert result.returncode == 2 and "unknown scenario" in result.stderr
    junk = tmp_path / "junk.jsonl"
    junk.write_text("hello\n")
    result = etcdplay("simulate", "--replay", str(junk))
    assert result.returncode == 2 and "not JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_scenarios_lists_and_explains() -> None:
    listing = etcdplay("scenarios")
    assert listing.returncode == 0
    for name in ("leader-failure", "follower-failures", "chaos"):
        assert name in listing.stdout
    explained = etcdplay("scenarios", "leader-failure", "--explain")
    assert explained.returncode == 0 and "majority" in explained.stdout


def test_version_says_which_simulator_core_runs() -> None:
    result = etcdplay("--version")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("etcdplay ")
    assert lines[1].startswith("simulator core: ")
