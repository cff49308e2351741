"""The compiled simulator core and its Python source are the same simulator."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from etcdplay import native

ROOT = Path(native.__file__).resolve().parent.parent

compiled_only = pytest.mark.skipif(not native.COMPILED_CORE, reason=native.describe())


def run_python(code: str, *, cwd: Path, pure: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != native.PURE_ENV}
    if pure:
        env[native.PURE_ENV] = "1"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_test_run_uses_the_compiled_core_when_it_says_so() -> None:
    """scripts/test.sh builds the core and sets this: a broken build must not
    quietly turn the suite into a test of the Python source only."""
    if os.environ.get("ETCDPLAY_EXPECT_COMPILED") == "1":
        assert native.COMPILED_CORE, native.describe()
        for name in native.COMPILED:
            module = importlib.import_module(name)
            assert module.__file__ is not None and not module.__file__.endswith(".py"), name


SIMULATE = """
import io, sys
from etcdplay import native, scenario as sc
from etcdplay.runner import make_header, run_scenario
from etcdplay.sim.backend import SimBackend
from etcdplay.trace import TraceWriter
scenario = sc.load("{name}").expanded({seed})
sink = io.StringIO()
run_scenario(scenario, SimBackend(), {seed}, TraceWriter(make_header(scenario, {seed}, "sim"), sink))
print(native.describe())
sys.stdout.write(sink.getvalue())
"""


@compiled_only
@pytest.mark.parametrize(("name", "seed"), [("chaos", 11), ("partition-leader", 3)])
def test_compiled_and_python_cores_give_byte_identical_traces(name: str, seed: int, tmp_path: Path) -> None:
    code = SIMULATE.format(name=name, seed=seed)
    compiled = run_python(code, cwd=tmp_path)
    pure = run_python(code, cwd=tmp_path, pure=True)
    assert compiled.returncode == 0, compiled.stderr
    assert pure.returncode == 0, pure.stderr
    compiled_which, compiled_trace = compiled.stdout.split("\n", 1)
    pure_which, pure_trace = pure.stdout.split("\n", 1)
    assert "compiled" in compiled_which and "Python source" in pure_which
    assert compiled_trace.count("\n") > 1000
    assert compiled_trace == pure_trace


@compiled_only
def test_an_edited_source_wins_over_an_older_compiled_core(tmp_path: Path) -> None:
    """After an edit (or a pull) in an editable install, the compiled core
    would run the old code: the package notices and runs the source."""
    shutil.copytree(ROOT / "etcdplay", tmp_path / "etcdplay", ignore=shutil.ignore_patterns("__pycache__"))
    assert (tmp_path / native.MANIFEST).exists()
    for library in ROOT.glob("etcdplay_native__mypyc*"):
        shutil.copy2(library, tmp_path)
    raft = tmp_path / "etcdplay" / "sim" / "raft.py"
    probe = "import etcdplay.sim.raft as r; from etcdplay import native; print(native.describe()); print(r.__file__)"

    fresh = run_python(probe, cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    assert "compiled" in fresh.stdout and fresh.stderr == ""

    raft.write_text(raft.read_text() + "\n# a learner's note\n")
    stale = run_python(probe, cwd=tmp_path)
    assert stale.returncode == 0, stale.stderr
    assert "Python source" in stale.stdout
    assert stale.stdout.strip().endswith("raft.py")
    assert "etcdplay/sim/raft.py changed after the core was compiled" in stale.stderr
    assert "pip install -e ." in stale.stderr

    # and the fallback simulates
    run = run_python(SIMULATE.format(name="leader-failure", seed=7), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert '"kind":"leader"' in run.stdout.replace(" ", "")


def test_the_python_source_is_used_on_request(tmp_path: Path) -> None:
    probe = "import etcdplay.sim.node as n; from etcdplay import native; print(native.describe()); print(n.__file__)"
    result = run_python(probe, cwd=tmp_path, pure=True)
    assert result.returncode == 0, result.stderr
    assert f"{native.PURE_ENV} is set" in result.stdout
    assert result.stdout.strip().endswith("node.py")
    assert result.stderr == ""


FAILOVER = """
from etcdplay.sim.failover import FailoverParams, run_failover_trial
for params in (
    FailoverParams(),
    FailoverParams(timer="etcd", election_timeout_ms=1000.0, heartbeat_ms=100.0, pre_vote=True, stale_followers=1),
    FailoverParams(election_timeout_ms=(150.0, 155.0), stale_followers=2, check_quorum=True, timer_jitter_ms=0.05),
):
    for seed in range(40):
        print(sorted(run_failover_trial(params, seed).items()))
"""


@compiled_only
def test_compiled_and_python_cores_give_the_same_failover_trials(tmp_path: Path) -> None:
    compiled = run_python(FAILOVER, cwd=tmp_path)
    pure = run_python(FAILOVER, cwd=tmp_path, pure=True)
    assert compiled.returncode == 0 and pure.returncode == 0, compiled.stderr + pure.stderr
    assert compiled.stdout.count("\n") == 120
    assert compiled.stdout == pure.stdout
