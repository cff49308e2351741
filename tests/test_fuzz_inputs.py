"""Fuzzing the inputs (issue 14): scenario files, trace files and command-line options.

Whatever comes in, etcdplay ends with exit status 0, 1 or 2 (never 3, an
internal error, and never a traceback), in bounded time, and writes nothing
but the outputs it was asked for.
"""

from __future__ import annotations

import json
import math
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from etcdplay import cost
from etcdplay import scenario as scenarios
from tests.clirun import Ran, run_cli

ROOT = Path(__file__).resolve().parents[1]
SIM_TRACE = ROOT / "tests" / "data" / "sim-leader-failure.jsonl"
LIVE_TRACE = ROOT / "tests" / "data" / "live-leader-failure.jsonl"

#: Wall-clock bound on one command (generous: a loaded 2-core machine).
BOUND_S = 120
#: Scenarios cheaper than this (cost.py's work units) are also simulated.
SIMULATE_BELOW = 100_000

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
    # shrinking a failing run of a whole simulation takes many minutes; the
    # failing input is printed as it is
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


@contextmanager
def bounded(seconds: int) -> Iterator[None]:
    def expired(*_: object) -> None:
        raise AssertionError(f"the command ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def ends_cleanly(ran: Ran) -> None:
    assert ran.code in (0, 1, 2), (ran.code, ran.stderr)
    assert "Traceback" not in ran.stdout + ran.stderr
    if ran.code == 2:
        assert "error" in ran.stderr.lower()


@contextmanager
def workdir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="etcdplay-fuzz-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def only(folder: Path, allowed: set[str]) -> None:
    """Nothing in ``folder`` but the inputs and the named outputs (no temporary leftovers)."""
    assert {p.name for p in folder.iterdir()} <= allowed


# --- values -----------------------------------------------------------------------------------

odd_floats = st.sampled_from([0.0, -1.0, 1e-300, 1e300, math.inf, -math.inf, math.nan, 0.5, 7.0, 1e9])
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    odd_floats,
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["leader", "followers:2", "random:99999999999999999999", "n1", "n99", "fixed(1)"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)

ACTIONS = list(scenarios.ACTIONS)
STEP_FIELDS = [
    "at",
    "target",
    "key",
    "value",
    "rate",
    "duration",
    "timeout",
    "within",
    "expect",
    "groups",
    "latency_ms",
    "node",
    "prefix",
    "note",
]
CLUSTER_FIELDS = [
    "size",
    "timer",
    "heartbeat_ms",
    "election_timeout_ms",
    "pre_vote",
    "check_quorum",
    "disk_ms",
]
TOP_FIELDS = ["name", "description", "settle", "status_interval", "explain"]


def near_valid(fields: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(fields), values, max_size=4)


@st.composite
def scenario_docs(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = draw(near_valid(TOP_FIELDS))
    if draw(st.booleans()):
        doc["cluster"] = draw(near_valid(CLUSTER_FIELDS))
    if draw(st.booleans()):
        doc["network"] = draw(near_valid(["latency_ms", "loss"]))
    steps = []
    for _ in range(draw(st.integers(0, 3))):
        step = draw(near_valid(STEP_FIELDS))
        step["action"] = draw(st.sampled_from([*ACTIONS, "explode"]))
        if draw(st.booleans()):
            step["at"] = draw(st.floats(min_value=0, max_value=5))
        steps.append(step)
    if steps:
        doc["steps"] = steps
    if draw(st.booleans()):
        doc["chaos"] = draw(
            near_valid(["start", "duration", "faults", "kinds", "hold", "latency_ms", "load_rate"])
        )
    return doc


def toml_text(doc: dict[str, Any]) -> str:
    try:
        return tomli_w.dumps(doc)
    except (TypeError, ValueError):  # a value TOML cannot hold (e.g. nan keys): write it raw
        return json.dumps(doc)


@FUZZ
@given(doc=scenario_docs())
def test_scenario_files(doc: dict[str, Any]) -> None:
    with workdir() as folder:
        path = folder / "s.toml"
        path.write_text(toml_text(doc))
        with bounded(BOUND_S):
            ends_cleanly(run_cli("scenarios", str(path)))
        try:
            sc = scenarios.load(str(path))
        except scenarios.ScenarioError:
            return
        if cost.estimate(sc).work < SIMULATE_BELOW:
            out = folder / "run.jsonl"
            with bounded(BOUND_S):
                ends_cleanly(run_cli("simulate", str(path), "-q", "--out", str(out)))
            only(folder, {"s.toml", "run.jsonl"})


@FUZZ
@given(text=st.text(max_size=300))
def test_scenario_text(text: str) -> None:
    with workdir() as folder:
        path = folder / "s.toml"
        path.write_text(text)
        with bounded(BOUND_S):
            ends_cleanly(run_cli("scenarios", str(path)))


# --- traces -------------------------------------------------------------------------------------

TRACE_LINES = SIM_TRACE.read_text().splitlines()


@st.composite
def mutated_traces(draw: st.DrawFn) -> str:
    lines = list(TRACE_LINES)
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["field", "drop", "garble", "kind", "add"]))
        event = json.loads(lines[index])
        if how == "field":
            field = draw(st.sampled_from(sorted(event)))
            event[field] = draw(values)
        elif how == "kind":
            event["kind"] = draw(st.sampled_from(["header", "role", "client", "status", "end", "bogus"]))
        elif how == "add":
            event[draw(st.text(max_size=6))] = draw(values)
        elif how == "drop":
            lines.pop(index)
            continue
        else:
            lines[index] = lines[index][: draw(st.integers(0, len(lines[index])))]
            continue
        lines[index] = json.dumps(event, allow_nan=True)
    return "\n".join(lines) + "\n"


@FUZZ
@given(trace=mutated_traces())
def test_trace_files(trace: str) -> None:
    with workdir() as folder:
        path = folder / "t.jsonl"
        path.write_text(trace)
        with bounded(BOUND_S):
            ends_cleanly(run_cli("report", str(path), "-o", str(folder / "r.html")))
            ends_cleanly(run_cli("compare", str(path), str(LIVE_TRACE), "-o", str(folder / "c.html")))
        only(folder, {"t.jsonl", "r.html", "c.html"})


@settings(FUZZ, max_examples=15)
@given(trace=mutated_traces())
def test_replayed_trace_headers(trace: str) -> None:
    with workdir() as folder:
        path = folder / "t.jsonl"
        path.write_text(trace)
        with bounded(BOUND_S):
            ends_cleanly(
                run_cli("simulate", "--replay", str(path), "-q", "--out", str(folder / "again.jsonl"))
            )
        only(folder, {"t.jsonl", "again.jsonl"})


# --- command-line options -------------------------------------------------------------------------

suffixes = st.sampled_from(["", ".jsonl", ".html", ".png", ".pdf", ".txt", ".json", "/", ".HTML"])
names = st.text(alphabet="abc-_.", min_size=1, max_size=6).filter(lambda s: s not in (".", ".."))


@st.composite
def simulate_options(draw: st.DrawFn) -> tuple[list[str], set[str]]:
    args = ["simulate", draw(st.sampled_from(["leader-failure", "partition-minority", "nope", "", "x.toml"]))]
    named: set[str] = set()
    if draw(st.booleans()):
        args += ["--seed", str(draw(st.integers(-(2**80), 2**80)))]
    if draw(st.booleans()):
        args += ["--engine", draw(st.sampled_from(["simpy", "heap", "fast", ""]))]
    for option in ("--out", "--report"):
        if draw(st.booleans()):
            name = draw(names) + draw(suffixes)
            named.add(name.rstrip("/"))
            args += [option, name]
    if draw(st.booleans()):
        args.append(draw(st.sampled_from(["-q", "--messages", "--quiet", "--bogus"])))
    return args, named


@settings(FUZZ, max_examples=30)
@given(options=simulate_options())
def test_simulate_options(options: tuple[list[str], set[str]]) -> None:
    args, named = options
    with workdir() as folder:
        resolved = [
            str(folder / a)
            if a and not a.startswith("-") and i > 1 and args[i - 1] in ("--out", "--report")
            else a
            for i, a in enumerate(args)
        ]
        with bounded(BOUND_S):
            ends_cleanly(run_cli(*resolved))
        only(folder, named)


@settings(FUZZ, max_examples=10)
@given(
    seeds=st.sampled_from(["1", "0", "-3", "1e9", "x", "3..1", "1,2", "99999999999999999999"]),
    jobs=st.sampled_from(["1", "-1", "100000", "x"]),
    sets=st.sampled_from(["cluster.heartbeat_ms=50", "cluster.size=true", "x=1", "cluster.size=1,3", "="]),
)
def test_sweep_options(seeds: str, jobs: str, sets: str) -> None:
    with workdir() as folder:
        out = folder / "s.json"
        with bounded(BOUND_S):
            ran = run_cli(
                "sweep",
                "scenario",
                "leader-failure",
                "--seeds",
                seeds,
                "--jobs",
                jobs,
                "--set",
                sets,
                "--json",
                str(out),
            )
        # a sweep of a huge seed count would not be bounded: those must be refused or small
        ends_cleanly(ran)
        only(folder, {"s.json"})
