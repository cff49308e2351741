"""The lean pass/fail path, `sweep scenario` exiting 1 with the failing
seeds named, and the mutation harness on one planted bug."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from etcdplay import scenario as sc
from etcdplay.runner import make_header, run_scenario
from etcdplay.sim.backend import SimBackend
from etcdplay.sim.lean import check_run
from etcdplay.sweep.command import sweep_app
from etcdplay.trace import TraceWriter

ROOT = Path(__file__).resolve().parent.parent

#: Crashes a random member and expects the leader to change: it holds only
#: when the random member was the leader, so some seeds fail and some pass.
RANDOM_CRASH = """
name = "random-crash"
settle = 1.0
[cluster]
size = 3
[[steps]]
at = 0.0
action = "wait-for-leader"
[[steps]]
at = 2.0
action = "crash"
target = "random"
[[steps]]
at = 2.0
action = "expect"
expect = "leader-changed"
within = 3.0
[[steps]]
at = 5.0
action = "restart"
"""


def _full(scenario: sc.Scenario, seed: int) -> tuple[bool, list[str]]:
    expanded = scenario.expanded(seed)
    result = run_scenario(expanded, SimBackend(), seed, TraceWriter(make_header(expanded, seed, "sim")))
    return result.ok, [c.name for c in result.failed]


def test_lean_verdicts_match_simulate() -> None:
    flaky = sc.from_toml(RANDOM_CRASH, "random-crash")
    verdicts = {seed: check_run(flaky, seed) for seed in range(1, 7)}
    assert {v.ok for v in verdicts.values()} == {True, False}  # both kinds of seed
    for seed, verdict in verdicts.items():
        assert (verdict.ok, verdict.failed_names) == _full(flaky, seed)
    chaos = sc.load("chaos")
    for seed in (3, 4):
        verdict = check_run(chaos, seed)
        assert (verdict.ok, verdict.failed_names) == _full(chaos, seed)


app = typer.Typer()
app.add_typer(sweep_app, name="sweep")


@app.callback()
def _root() -> None:
    """etcdplay (test root)."""


@pytest.mark.parametrize("lean", [True, False])
def test_sweep_scenario_exits_1_and_names_the_failing_seeds(tmp_path: Path, lean: bool) -> None:
    path = tmp_path / "random-crash.toml"
    path.write_text(RANDOM_CRASH)
    failing = [s for s in range(1, 7) if not check_run(sc.from_toml(RANDOM_CRASH, "x"), s).ok]
    args = ["sweep", "scenario", str(path), "--seeds", "6", "--jobs", "1", "--no-progress"]
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, [*args, "--checks-only"] if lean else args)
    assert result.exit_code == 1, result.output
    assert f"{len(failing)} of 6 run(s) failed their checks (expect:leader-changed x{len(failing)})" in (
        result.output
    )
    assert "seeds: " + ", ".join(map(str, failing)) in result.output
    assert f"etcdplay simulate {path} --seed {failing[0]}" in result.output


def test_sweep_scenario_exits_0_when_every_run_passes() -> None:
    result = CliRunner().invoke(
        app,
        [
            "sweep",
            "scenario",
            "leader-failure",
            "--seeds",
            "2",
            "--jobs",
            "1",
            "--no-progress",
            "--checks-only",
        ],
    )
    assert result.exit_code == 0, result.output


def test_mutation_harness_catches_a_planted_kv_bug_without_touching_the_tree() -> None:
    kv = ROOT / "etcdplay" / "sim" / "kv.py"
    before = kv.read_bytes()
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "mutation_score.py"),
            "--only",
            "delete-does-nothing",
            "--seeds",
            "3",
            "--no-baseline",
            "--jobs",
            "1",
            "--goal",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "delete-does-nothing" in done.stdout and "caught at seed" in done.stdout
    assert "final-values" in done.stdout
    assert "mutation score: 1/1" in done.stdout
    assert kv.read_bytes() == before


def test_mutation_harness_stopped_by_sigterm_leaves_nothing(tmp_path: Path) -> None:
    # a run under a job scheduler's time limit: SIGTERM kills the running
    # simulations and removes every temporary copy of the package
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "mutation_score.py"), "--only", "no-truncate", "--jobs", "2"],
        env={**os.environ, "TMPDIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # wait until both simulations (unmutated and mutant) are running
        deadline = time.monotonic() + 300
        while len(list(tmp_path.glob("etcdplay-mutant-*/etcdplay"))) < 2 or len(_children(proc.pid)) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        children = _children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "interrupted" in err, out + err
    assert list(tmp_path.iterdir()) == []
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_mutation_harness_refuses_an_unknown_mutant() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "mutation_score.py"), "--only", "no-such-bug"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "no mutant named no-such-bug" in done.stderr
