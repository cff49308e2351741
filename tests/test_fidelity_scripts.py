"""The fidelity experiment scripts: their numbers on a few trials."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_paper_election_runs_a_range_and_compares_with_the_text() -> None:
    paper = _load("paper_election")
    r = paper.run(150, 155, 20, "uniform(0.5,1.5)", "fixed(1)", 2)
    assert r["trials"] == 20 and r["timed_out"] == 0
    e, d = r["election_ms"], r["downtime_ms"]
    assert 75 <= e["min"] <= e["p50"] <= e["max"]
    assert d["p50"] >= e["p50"]  # everyone hears the leader after it exists
    c = paper._compare([r], (150, 155), "p50", 287.0, "a median downtime of 287ms")
    assert c is not None and c["sim"] == e["p50"] and c["published"] == 287.0
    assert paper._compare([r], (12, 24), "mean", 35.0, "") is None


def test_paper_election_fixed_timeouts_take_over_ten_seconds_with_the_timer_slack() -> None:
    paper = _load("paper_election")
    args = ("uniform(0.5,1.5)", "fixed(1)", 2)
    r = paper.run(150, 150, 3, *args, jitter_ms=paper.JITTER_MS)
    c = paper._compare([r], (150, 150), "% over 10 s", 100.0, "")
    assert c is not None and c["sim"] == 100.0
    assert paper.run(150, 150, 3, *args, jitter_ms=paper.JITTER_MS, first_seed=3)["trials"] == 3


def test_paper_election_refuses_bad_settings_with_a_message(tmp_path: Path) -> None:
    for flags, words in (
        (["--timer-jitter-ms", "-1"], "timer jitter -1"),
        (["--latency-ms", "bogus"], "cannot read 'bogus'"),
        (["--first-seed", "-1"], "--first-seed"),
    ):
        cmd = [sys.executable, str(SCRIPTS / "paper_election.py"), "--out", str(tmp_path), *flags]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr


def test_fidelity_stats() -> None:
    fidelity = _load("fidelity")
    same = np.arange(100.0)
    row = fidelity.stats(same, same)
    assert row["ks"] == 0.0 and row["median_diff"] == 0.0 and row["live_n"] == 100
    shifted = fidelity.stats(same, same + 100.0)
    assert shifted["ks"] == 1.0 and shifted["sim_p50"] == row["sim_p50"] + 100.0
