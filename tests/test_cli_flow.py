"""The tour from the README, end to end through the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def etcdplay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "etcdplay", *args], capture_output=True, text=True, timeout=300
    )


def test_simulate_report_compare_replay(tmp_path: Path) -> None:
    run, html = tmp_path / "run.jsonl", tmp_path / "run.html"
    done = etcdplay("simulate", "chaos", "--seed", "42", "--out", str(run), "--report", str(html), "-q")
    assert done.returncode == 0, done.stderr
    page = html.read_text()
    assert "chaos" in page and "plotly" in page.lower()
    assert not list(tmp_path.glob(".*partial")), "no partial trace left behind"

    again = tmp_path / "again.jsonl"
    done = etcdplay("simulate", "--replay", str(run), "--out", str(again), "-q")
    assert done.returncode == 0, done.stderr
    assert again.read_bytes() == run.read_bytes(), "a replay of a simulated trace is the same run"

    other = tmp_path / "other.jsonl"
    assert etcdplay("simulate", "chaos", "--seed", "43", "--out", str(other), "-q").returncode == 0
    out = tmp_path / "cmp.html"
    done = etcdplay("compare", str(run), str(other), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert out.exists() and "Traceback" not in done.stderr


def test_report_and_compare_bad_input(tmp_path: Path) -> None:
    missing = tmp_path / "missing.jsonl"
    done = etcdplay("report", str(missing))
    assert done.returncode == 2 and "no such trace file" in done.stderr
    done = etcdplay("compare", str(missing))
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_bad_engine_is_bad_input() -> None:
    done = etcdplay("simulate", "leader-failure", "--engine", "warp")
    assert done.returncode == 2 and "--engine 'warp'" in done.stderr
