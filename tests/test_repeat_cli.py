"""``simulate --repeat/--until-fail/--budget``: fresh seeds, failing traces kept."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from etcdplay.repeat import failing_trace_path, parse_budget


def etcdplay(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "etcdplay", *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


def test_parse_budget() -> None:
    assert parse_budget("90") == 90
    assert parse_budget("90s") == 90
    assert parse_budget("10m") == 600
    assert parse_budget("1h30m") == 5400
    for bad in ("", "m", "10x", "-5m", "0s"):
        with pytest.raises(ValueError, match="--budget"):
            parse_budget(bad)


def test_failing_trace_path() -> None:
    assert failing_trace_path(None, "chaos", 7) == Path("chaos-seed7.jsonl")
    assert failing_trace_path(Path("out/run.jsonl"), "chaos", 7) == Path("out/run-seed7.jsonl")


def test_repeat_runs_each_seed_and_passes() -> None:
    done = etcdplay("simulate", "leader-failure", "--repeat", "3", "--seed", "5")
    assert done.returncode == 0, done.stderr
    for seed in (5, 6, 7):
        assert f"seed {seed}: ok" in done.stdout
    assert "3 run(s)" in done.stdout and "no check failed" in done.stdout


FAILING = """
name = "always-fails"
settle = 0.5
[cluster]
size = 3
[[steps]]
at = 0.0
action = "wait-for-leader"
[[steps]]
at = 2.0
action = "expect"
expect = "no-leader"
"""


def test_until_fail_stops_at_the_first_failure_and_keeps_its_trace(tmp_path: Path) -> None:
    scenario = tmp_path / "fails.toml"
    scenario.write_text(FAILING)
    out = tmp_path / "hunt.jsonl"
    done = etcdplay(
        "simulate", str(scenario), "--until-fail", "--budget", "5m", "--seed", "11", "-o", str(out)
    )
    assert done.returncode == 1, done.stderr
    assert "seed 11: FAILED" in done.stdout and "seed 12" not in done.stdout
    assert "failed: seeds 11" in done.stderr
    kept = tmp_path / "hunt-seed11.jsonl"
    assert kept.exists() and not out.exists()
    # the kept trace is the run, byte for byte: its replay gives the same bytes
    again = tmp_path / "again.jsonl"
    replay = etcdplay("simulate", "--replay", str(kept), "-o", str(again), "-q")
    assert replay.returncode == 1
    assert again.read_bytes() == kept.read_bytes()


def test_budget_alone_runs_until_spent(tmp_path: Path) -> None:
    done = etcdplay("simulate", "leader-failure", "--budget", "2s", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "budget of 2 s spent" in done.stdout
    assert not list(tmp_path.iterdir())  # nothing failed: nothing kept


def test_bad_repeat_options_are_one_line_errors() -> None:
    done = etcdplay("simulate", "leader-failure", "--budget", "soon")
    assert done.returncode == 2 and "--budget 'soon'" in done.stderr and "Traceback" not in done.stderr
    done = etcdplay("simulate", "leader-failure", "--repeat", "2", "--report", "x.html")
    assert done.returncode == 2 and "--report goes with a single run" in done.stderr
    done = etcdplay("simulate", "leader-failure", "--repeat", "0")
    assert done.returncode == 2


def test_a_hunt_names_a_known_bug(tmp_path: Path) -> None:
    """A failure recognised as a known etcd bug is named under its seed and
    kept in the hunt's record (scripts/bug_hunt.py writes it out)."""
    import io

    from rich.console import Console

    from etcdplay.checks import CheckResult
    from etcdplay.repeat import hunt
    from etcdplay.runner import RunResult
    from etcdplay.trace import Trace

    def run_one(seed: int, sink: io.TextIOBase) -> RunResult:
        sink.write('{"t":0.0,"kind":"header"}\n')
        diverged = CheckResult("no-divergence", False, "members diverged", known_bug="etcd-io/etcd#13766")
        return RunResult(Trace({"kind": "header"}, []), [CheckResult("convergence", True), diverged])

    console = Console(file=io.StringIO(), width=200)
    outcome = hunt(
        run_one,  # type: ignore[arg-type]
        first_seed=3,
        repeat=None,
        until_fail=True,
        budget=None,
        scenario="x",
        out=tmp_path / "h.jsonl",
        console=console,
    )
    assert [f.known_bugs for f in outcome.failures] == [["etcd-io/etcd#13766"]]
    assert "known bug: etcd-io/etcd#13766" in console.file.getvalue()  # type: ignore[attr-defined]
