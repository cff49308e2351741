"""Run a scenario again and again with fresh seeds until a check fails or a
time budget ends (``simulate``/``live`` ``--repeat N``, ``--until-fail``,
``--budget 10m``).

``run_one(seed, sink)`` writes its trace to ``sink`` (in memory here), so a
kept trace is byte for byte what ``--out`` would have written. Seeds go up
from the first one (``--seed``, default 1), so a hunt can be
resumed or split between machines by seed range. A failing run's trace
is written out (its seed in the file
name), so it can be replayed (``--replay``) and reported. Prints one line per
seed and a last line with every failing seed.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.markup import escape

from etcdplay.files import atomic_output
from etcdplay.runner import RunResult

REPEAT_HELP = (
    "run N seeds, from --seed up; a failing seed's trace is kept (--out with -seedN, or SCENARIO-seedN.jsonl)"
)
UNTIL_FAIL_HELP = "run fresh seeds until a check fails"
BUDGET_HELP = "run fresh seeds, starting none after this long (90s, 10m, 1h)"

_BUDGET = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def parse_budget(text: str) -> float:
    """Seconds in ``90``, ``90s``, ``10m``, ``1h``, ``1h30m``; ValueError otherwise."""
    match = _BUDGET.match(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        raise ValueError(f"--budget {text!r}: write a duration such as 90s, 10m or 1h30m")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise ValueError(f"--budget {text!r}: must be more than zero")
    return total


@dataclass
class Failure:
    seed: int
    checks: list[str]
    trace: Path
    # known etcd bugs the failed checks were recognised as (etcdplay.known_bugs)
    known_bugs: list[str] = field(default_factory=list)


@dataclass
class Hunt:
    runs: int = 0
    failures: list[Failure] = field(default_factory=list)
    elapsed: float = 0.0
    stopped: str = ""  # why the hunt ended

    @property
    def failing_seeds(self) -> list[int]:
        return [f.seed for f in self.failures]


def failing_trace_path(out: Path | None, scenario: str, seed: int) -> Path:
    """Where a failing seed's trace goes: ``--out`` with ``-seedN`` before its
    suffix, or ``SCENARIO-seedN.jsonl`` in the current directory."""
    if out is None:
        return Path(f"{scenario}-seed{seed}.jsonl")
    return out.with_name(f"{out.stem}-seed{seed}{out.suffix or '.jsonl'}")


def write_trace(text: str, path: Path) -> None:
    with atomic_output(path, "--out") as handle:
        handle.write(text)


def hunt(
    run_one: Callable[[int, IO[str]], RunResult],
    *,
    first_seed: int,
    repeat: int | None,
    until_fail: bool,
    budget: float | None,
    scenario: str,
    out: Path | None,
    console: Console,
) -> Hunt:
    """Run seeds ``first_seed, first_seed + 1, ...``; stop after ``repeat``
    runs, at the first failure (``until_fail``), or once ``budget`` seconds
    have passed (a run that has started is finished)."""
    began = time.monotonic()
    outcome = Hunt()
    seed = first_seed
    while True:
        if repeat is not None and outcome.runs >= repeat:
            outcome.stopped = f"{repeat} run(s) done"
            break
        if budget is not None and time.monotonic() - began >= budget:
            outcome.stopped = f"budget of {budget:g} s spent"
            break
        started = time.monotonic()
        sink = io.StringIO()
        result = run_one(seed, sink)
        took = time.monotonic() - started
        outcome.runs += 1
        if result.ok:
            console.print(f"seed {seed}: ok ({took:.1f} s)", highlight=False)
        else:
            path = failing_trace_path(out, scenario, seed)
            write_trace(sink.getvalue(), path)
            names = [c.name for c in result.failed]
            known = sorted({c.known_bug for c in result.failed if c.known_bug})
            outcome.failures.append(Failure(seed, names, path, known))
            first = result.failed[0]
            console.print(
                f"[bold red]seed {seed}: FAILED[/] {', '.join(names)} ({took:.1f} s): "
                f"{escape(first.detail[:300])}\n  trace kept: {path}"
                + "".join(f"\n  known bug: {escape(ref)}" for ref in known),
                highlight=False,
            )
            if until_fail:
                outcome.stopped = "a check failed"
                break
        seed += 1
    outcome.elapsed = time.monotonic() - began
    return outcome


def print_hunt(outcome: Hunt, console: Console) -> None:
    failed = outcome.failing_seeds
    line = f"{outcome.runs} run(s) in {outcome.elapsed:.1f} s ({outcome.stopped}); " + (
        f"{len(failed)} failed: seeds {', '.join(map(str, failed))}" if failed else "no check failed"
    )
    console.print(line, highlight=False)


def wanted(repeat: int | None, until_fail: bool, budget: str | None) -> bool:
    return repeat is not None or until_fail or budget is not None


def run_cli(
    run_one: Callable[[int, IO[str]], RunResult],
    *,
    first_seed: int,
    repeat: int | None,
    until_fail: bool,
    budget: str | None,
    scenario: str,
    out: Path | None,
    report: Path | None,
    console: Console,
    errors: Console,
) -> int:
    """The ``--repeat``/``--until-fail``/``--budget`` mode of ``simulate`` and
    ``live``: returns the exit status (1 when any seed failed)."""
    if report is not None:
        raise ValueError("--report goes with a single run; report a kept trace with `etcdplay report`")
    seconds = parse_budget(budget) if budget is not None else None
    outcome = hunt(
        run_one,
        first_seed=first_seed,
        repeat=repeat,
        until_fail=until_fail,
        budget=seconds,
        scenario=scenario,
        out=out,
        console=console,
    )
    print_hunt(outcome, errors if outcome.failures else console)
    return 1 if outcome.failures else 0
