"""Regressions from an adversarial review: bad input is one line and exit status
2 (never a traceback or a hang), and outputs are never half-written or lost."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from etcdplay import scenario as scenarios
from etcdplay.files import OutputError, atomic_output

ROOT = Path(__file__).resolve().parents[1]


def etcdplay(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "etcdplay", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
    )


def bad_input(run: subprocess.CompletedProcess[str], expected: str) -> None:
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    assert expected in run.stderr, run.stderr


# --- scenario files: NaN, infinity and absurd sizes ------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        # NaN passed every range check (comparisons with NaN are false): a traceback
        ("[cluster]\nelection_timeout_ms = nan\n", "cluster.election_timeout_ms"),
        ("[cluster]\nheartbeat_ms = inf\nelection_timeout_ms = inf\n", "cluster.heartbeat_ms"),
        # times that never come: the run hung
        ('[[steps]]\nat = inf\naction = "heal"\n', ".at: Input should be a finite number"),
        ('[[steps]]\nat = 1e300\naction = "heal"\n', ".at: Input should be less than or equal to 86400"),
        ('[[steps]]\nat = 0\naction = "load"\nrate = 10\nduration = 1e9\n', ".duration"),
        ('[[steps]]\nat = 0\naction = "expect"\nexpect = "no-leader"\nwithin = inf\n', ".within"),
        ("settle = inf\n", "settle"),
        # timers so small that virtual time never advances: the run hung
        ("[cluster]\nheartbeat_ms = 1e-300\nelection_timeout_ms = 1\n", "cluster.heartbeat_ms"),
        ("status_interval = 1e-9\n", "status_interval"),
        # a chaos schedule with a negative hold crashed while being expanded
        ("[chaos]\nhold = [-5, -1]\n", "chaos.hold"),
        ("[chaos]\nhold = [5, 1]\n", "hold [5, 1] needs lo <= hi"),
        ("[chaos]\nfaults = 1000\nduration = 1e-6\n", "too dense"),
    ],
)
def test_bad_numbers_in_scenario(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content)
    bad_input(etcdplay("simulate", str(path), "-q", timeout=30), expected)


def test_chaos_start_with_sub_millisecond_digits_expands() -> None:
    # The load step kept start = 2.0004 while fault times are rounded to 2.0:
    # out of order, a pydantic traceback for some seeds (seed 35 was one).
    sc = scenarios.from_dict({"chaos": {"start": 2.0004, "faults": 50, "duration": 5, "hold": [0, 0.001]}})
    for seed in range(100):
        steps = sc.expanded(seed).steps
        assert [s.at for s in steps] == sorted(s.at for s in steps)


# --- traces given as input --------------------------------------------------------------------


def test_replay_of_a_binary_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.jsonl"
    junk.write_bytes(b"\x00\x01\x02\xff\xfe")
    bad_input(etcdplay("simulate", "--replay", str(junk)), "not a text file")


def test_trace_with_a_time_that_is_not_a_number(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    trace.write_text('{"t":0,"kind":"header","schema":1}\n{"t":"abc","kind":"note"}\n')
    bad_input(etcdplay("report", str(trace)), "t.jsonl:2: 't' must be a finite number")


# --- outputs that would destroy each other or an input ---------------------------------------


def test_out_and_report_the_same_file(tmp_path: Path) -> None:
    same = tmp_path / "run.out"
    run = etcdplay("simulate", "leader-failure", "-q", "--out", str(same), "--report", str(same))
    bad_input(run, "the same file as --out")
    assert not same.exists()


def test_out_over_the_replayed_trace(tmp_path: Path) -> None:
    trace = tmp_path / "run.jsonl"
    assert etcdplay("simulate", "leader-failure", "-q", "--out", str(trace)).returncode == 0
    before = trace.read_bytes()
    bad_input(
        etcdplay("simulate", "--replay", str(trace), "-q", "--out", str(trace)), "would overwrite the input"
    )
    assert trace.read_bytes() == before


def test_compare_output_over_an_input(tmp_path: Path) -> None:
    trace = tmp_path / "run.jsonl"
    assert etcdplay("simulate", "leader-failure", "-q", "--out", str(trace)).returncode == 0
    before = trace.read_bytes()
    bad_input(etcdplay("compare", str(trace), str(trace), "-o", str(trace)), "would overwrite the trace")
    assert trace.read_bytes() == before


def test_sweep_json_and_plot_the_same_file(tmp_path: Path) -> None:
    same = tmp_path / "out"
    run = etcdplay(
        "sweep", "failover", "--trials", "5", "--jobs", "1", "--json", str(same), "--plot", str(same)
    )
    bad_input(run, "the same file as --json")


def test_sweep_malformed_cluster_address_is_quick() -> None:
    # Client('bogus') failed, then its finaliser hung 20 s and printed a traceback.
    # Timed against a plain start-up of the same CLI, not the wall clock: on a
    # loaded machine starting Python alone can take seconds.
    started = time.monotonic()
    assert etcdplay("--version").returncode == 0
    start_up = time.monotonic() - started
    started = time.monotonic()
    run = etcdplay("sweep", "failover", "--trials", "5", "--cluster", "bogus", "--no-progress")
    bad_input(run, "--cluster bogus: not a scheduler address")
    assert time.monotonic() - started < 3 * start_up + 10  # the hang alone was 20 s


# --- interrupted runs: nothing half-written, nothing lost --------------------------------------


def _interrupt(
    args: list[str], after: float, partial_in: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """SIGINT the command mid-run: once its temporary output exists in
    ``partial_in`` (the run is under way, whatever the machine's load), else
    after ``after`` seconds."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "etcdplay", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        # a child of a non-interactive shell may start with SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    if partial_in is None:
        time.sleep(after)
    else:
        deadline = time.monotonic() + 120
        while not any(p.name.endswith(".partial") or ".partial" in p.name for p in partial_in.iterdir()):
            assert proc.poll() is None and time.monotonic() < deadline, "the run never started its output"
            time.sleep(0.05)
        time.sleep(0.5)  # well into the run
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.slow
def test_interrupted_simulate_keeps_the_earlier_trace(tmp_path: Path) -> None:
    # The .partial file used to be renamed to --out on the way out of an
    # interrupted run: a truncated trace under the requested name.
    long_run = tmp_path / "long.toml"
    long_run.write_text("[chaos]\nduration = 3000\nfaults = 100\n")
    out = tmp_path / "out" / "run.jsonl"
    out.parent.mkdir()
    out.write_text("an earlier trace\n")
    run = _interrupt(["simulate", str(long_run), "-q", "--out", str(out)], after=3, partial_in=out.parent)
    assert run.returncode == 130, run.stderr
    assert "Traceback" not in run.stderr
    assert "interrupted: no output written" in run.stderr
    assert out.read_text() == "an earlier trace\n"
    assert list(out.parent.iterdir()) == [out]


@pytest.mark.slow
def test_interrupted_sweep_keeps_the_earlier_json(tmp_path: Path) -> None:
    # The half-written --json used to be deleted: with it went the earlier result.
    out = tmp_path / "out" / "sweep.json"
    out.parent.mkdir()
    out.write_text('{"earlier": true}\n')
    args = ["sweep", "failover", "--trials", "500000", "--jobs", "1", "--json", str(out), "--no-progress"]
    run = _interrupt(args, after=4, partial_in=out.parent)
    assert run.returncode == 130, run.stderr
    assert "Traceback" not in run.stderr
    assert "interrupted: no output written" in run.stderr
    assert json.loads(out.read_text()) == {"earlier": True}
    assert list(out.parent.iterdir()) == [out]


def test_atomic_output_publishes_only_complete_files(tmp_path: Path) -> None:
    out = tmp_path / "x.txt"
    out.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(out, "--out") as handle:
        handle.write("half")
        raise RuntimeError("boom")
    assert out.read_text() == "old" and list(tmp_path.iterdir()) == [out]
    with atomic_output(out, "--out") as handle:
        handle.write("new")
    assert out.read_text() == "new" and list(tmp_path.iterdir()) == [out]
    assert out.stat().st_mode & 0o777 != 0o600  # the usual permissions, not mkstemp's
    with pytest.raises(OutputError, match="is a directory"):
        atomic_output(tmp_path, "--out").__enter__()


@pytest.mark.parametrize(
    ("configurations", "expected"),
    [
        ([5], "configurations[0]: not an object"),
        ([{"label": 1}], "configurations[0]: no 'label' string"),
        ([{"label": "a", "samples": []}], "configurations[0]: no 'summary' object"),
        ([{"label": "a", "samples": [], "summary": {"trials": 1}}], "without 'trials' and 'downtime_ms'"),
    ],
)
def test_sweep_compare_of_a_malformed_document(tmp_path: Path, configurations: list, expected: str) -> None:
    # Right schema, wrong shape: KeyError / TypeError tracebacks in the table.
    doc = tmp_path / "sweep.json"
    doc.write_text(
        json.dumps({"schema": "etcdplay-sweep/1", "experiment": "failover", "configurations": configurations})
    )
    bad_input(etcdplay("sweep", "compare", str(doc)), expected)


# SIGINT arrives the moment the import of etcdplay.cli begins (an import hook).
_SIGINT_DURING_CLI_IMPORT = """
import os, signal, sys
class SigintOnCliImport:
    def find_spec(self, name, path, target=None):
        if name == "etcdplay.cli":
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, SigintOnCliImport())
from etcdplay.entry import main
main()
"""


def test_ctrl_c_while_the_cli_imports_is_one_line() -> None:
    # SIGINT delivered at once, before `etcdplay.cli` can be imported: the
    # start-up window of every command (a loaded machine makes it seconds).
    proc = subprocess.Popen(
        [sys.executable, "-c", _SIGINT_DURING_CLI_IMPORT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted: no output written" in err
