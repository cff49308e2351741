"""Mutation score: how many planted safety bugs do `simulate`'s checks catch?

Each mutant is one realistic bug planted in the Raft core
(etcdplay/sim/raft.py) or the KV state machine (etcdplay/sim/kv.py) as a
source patch. For each mutant the package is copied to a temporary folder,
patched there (the working tree is never touched), and the scenario runs
seed after seed through the `etcdplay simulate` command itself (in one
process per mutant, on the Python source) until a run exits 1 (a check
failed: caught) or the seeds run out (missed). Only simulate's checks count:
the unit tests that also catch these bugs are not used here.

    python scripts/mutation_score.py                       # chaos, seeds 1..50
    python scripts/mutation_score.py --seeds 150 --jobs 2 --json score.json
    python scripts/mutation_score.py --only double-vote --scenario my.toml
    python scripts/mutation_score.py --verify-cli          # re-run each catch as a subprocess

Exit status: 0 when the score reaches --goal (default: 9 of the first 10,
i.e. 90 %), 1 when it does not, 2 for bad input. The unmutated code must pass
every seed first (--no-baseline skips that).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # inside the repository
    what: str  # the bug, in words
    old: str  # exact source text, found exactly once
    new: str


MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        "vote-without-log-check",
        "etcdplay/sim/raft.py",
        "grants (pre-)votes without the §5.4.1 up-to-date check of the candidate's log",
        "        return last_term > my_term or (last_term == my_term and last_index >= len(self._log))",
        "        return True",
    ),
    Mutant(
        "double-vote",
        "etcdplay/sim/raft.py",
        "votes twice in a term: a vote already given does not stop another while no leader is known",
        "            or (self._voted_for is None and self._leader is None)",
        "            or self._leader is None",
    ),
    Mutant(
        "commit-old-term",
        "etcdplay/sim/raft.py",
        "leader commits entries of earlier terms by counting replicas (Figure 8)",
        "        if n > self._commit and log[n - 1].term == self._term:",
        "        if n > self._commit:",
    ),
    Mutant(
        "no-truncate",
        "etcdplay/sim/raft.py",
        "follower keeps its conflicting entries instead of truncating them",
        "                if log[e.index - 1].term != e.term:",
        "                if log[e.index - 1].term != e.term and False:",
    ),
    Mutant(
        "quorum-off-by-one",
        "etcdplay/sim/raft.py",
        "quorum is one short: 2 of 5 elect and commit",
        "        self._quorum = (len(self._peers) + 1) // 2 + 1",
        "        self._quorum = (len(self._peers) + 1) // 2",
    ),
    Mutant(
        "commit-past-new-entries",
        "etcdplay/sim/raft.py",
        "follower commits up to the leader's commit index, past the last entry the append verified",
        "            self._set_commit(m.commit if m.commit < last_new else last_new)",
        "            self._set_commit(m.commit)",
    ),
    Mutant(
        "vote-forgotten-on-restart",
        "etcdplay/sim/raft.py",
        "a restarted member forgets whom it voted for in its current term",
        "            self._voted_for = hs.voted_for",
        "            self._voted_for = None",
    ),
    Mutant(
        "votes-counted-per-message",
        "etcdplay/sim/raft.py",
        "candidate counts vote responses, not voters: a duplicated grant counts twice",
        "        self._votes[m.src] = m.granted",
        "        self._votes[f'{m.src}#{len(self._votes)}'] = m.granted",
    ),
    Mutant(
        "no-prev-term-check",
        "etcdplay/sim/raft.py",
        "follower accepts an append when it has an entry at prev_index, whatever its term",
        "        if prev_term != m.prev_term:",
        "        if prev_term is None:",
    ),
    Mutant(
        "stale-term-append",
        "etcdplay/sim/raft.py",
        "follower accepts appends from a leader of an older term",
        "        if msg.term == term and type(msg) is AppendRequest:",
        "        if msg.term <= term and type(msg) is AppendRequest:",
    ),
    Mutant(
        "pre-votes-count-as-votes",
        "etcdplay/sim/raft.py",
        "candidate ignores pre-vote refusals but counts late pre-vote grants as votes",
        "        elif self._role is Role.CANDIDATE:\n            if m.pre_vote:\n",
        "        elif self._role is Role.CANDIDATE:\n            if m.pre_vote and not m.granted:\n",
    ),
    Mutant(
        "match-whole-log",
        "etcdplay/sim/raft.py",
        "follower's success reply claims its whole log matches, not just what the append verified",
        "        out.messages.append(AppendResponse(self._id, m.src, self._term, True, last_new, 0))",
        "        out.messages.append(AppendResponse(self._id, m.src, self._term, True, len(log), 0))",
    ),
    Mutant(
        "put-existing-ignored",
        "etcdplay/sim/kv.py",
        "a put to a key that exists keeps the old value",
        "            self._data[cmd.key] = cmd.value",
        "            self._data.setdefault(cmd.key, cmd.value)",
    ),
    Mutant(
        "delete-does-nothing",
        "etcdplay/sim/kv.py",
        "a delete of an existing key leaves it in place",
        "            del self._data[cmd.key]",
        "            pass",
    ),
)

#: Runs in the patched copy: seeds through the simulate command, in process.
WORKER = r"""
import io, json, sys, time, contextlib
from etcdplay.cli import app
scenario, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
started = time.perf_counter()
result = {"caught_at": None, "crashed": None, "checks": [], "seeds_run": 0}
for seed in range(first, last + 1):
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = app(["simulate", scenario, "--seed", str(seed), "--quiet"], standalone_mode=False)
    except Exception as exc:  # the mutant broke the simulator itself
        result["seeds_run"] += 1
        result["crashed"] = {"seed": seed, "error": f"{type(exc).__name__}: {exc}"[:300]}
        break
    result["seeds_run"] += 1
    if code == 1:
        result["caught_at"] = seed
        result["checks"] = [line.split(":", 2)[1].strip().split(" ")[0]
                            for line in err.getvalue().splitlines() if line.startswith("check failed:")]
        result["detail"] = err.getvalue().strip()[:600]
        break
    if code not in (0, None):
        result["crashed"] = {"seed": seed, "error": f"exit {code}: {err.getvalue().strip()[:300]}"}
        break
result["seconds"] = round(time.perf_counter() - started, 1)
print(json.dumps(result))
"""


def snapshot(into: Path, source: Path = ROOT) -> Path:
    """The package's source as it is now (no compiled core), copied into
    ``into``: every mutant of one run starts from the same code, even if the
    working tree changes meanwhile."""
    shutil.copytree(
        source / "etcdplay",
        into / "etcdplay",
        ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__", "native_build.json", "build"),
    )
    return into


def patched_copy(mutant: Mutant | None, into: Path, base: Path = ROOT) -> Path:
    """The package of ``base`` copied into ``into`` and patched with ``mutant``."""
    snapshot(into, base)
    if mutant is not None:
        target = into / mutant.path
        text = target.read_text()
        count = text.count(mutant.old)
        if count != 1:
            raise SystemExit(
                f"error: mutant {mutant.name}: its source text occurs {count} times in {mutant.path} "
                "(the code changed: update the mutant)"
            )
        target.write_text(text.replace(mutant.old, mutant.new))
    return into


def _env(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(copy)
    env["ETCDPLAY_PURE_PYTHON"] = "1"  # the compiled core would not have the bug
    return env


# The simulate processes running now: an interrupt (Ctrl-C, SIGTERM) kills
# them, so their threads return and every temporary copy is removed.
_RUNNING: set[subprocess.Popen[str]] = set()
_RUNNING_LOCK = threading.Lock()
_STOPPING = threading.Event()


def _run(cmd: list[str], env: dict[str, str], cwd: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``subprocess.run`` with capture and timeout, the child known to ``_stop_all``."""
    with subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        with _RUNNING_LOCK:
            _RUNNING.add(proc)
            if _STOPPING.is_set():
                proc.kill()
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        except BaseException:  # an interrupt in this thread: Popen's exit would not kill it
            proc.kill()
            raise
        finally:
            with _RUNNING_LOCK:
                _RUNNING.discard(proc)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _stop_all() -> None:
    with _RUNNING_LOCK:
        _STOPPING.set()
        for proc in _RUNNING:
            proc.kill()


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_mutant(
    mutant: Mutant | None, scenario: str, first: int, last: int, timeout: float, base: Path = ROOT
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="etcdplay-mutant-") as tmp:
        copy = patched_copy(mutant, Path(tmp), base)
        try:
            proc = _run(
                [sys.executable, "-c", WORKER, scenario, str(first), str(last)], _env(copy), tmp, timeout
            )
        except subprocess.TimeoutExpired:
            return {"caught_at": None, "crashed": {"seed": None, "error": f"timed out after {timeout:g} s"}}
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines:
            return {"caught_at": None, "crashed": {"seed": None, "error": proc.stderr.strip()[-300:]}}
        result: dict[str, Any] = json.loads(lines[-1])
        return result


def verify_cli(mutant: Mutant, scenario: str, seed: int, base: Path = ROOT) -> int:
    """Exit status of the real command line on the catching seed, in a fresh patched copy."""
    with tempfile.TemporaryDirectory(prefix="etcdplay-mutant-") as tmp:
        copy = patched_copy(mutant, Path(tmp), base)
        proc = _run(
            [sys.executable, "-m", "etcdplay", "simulate", scenario, "--seed", str(seed), "--quiet"],
            _env(copy),
            tmp,
            600,
        )
        return proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="chaos", help="built-in name or .toml path (default: chaos)")
    parser.add_argument("--seed", type=int, default=1, help="first seed (default: 1)")
    parser.add_argument("--seeds", type=int, default=50, help="seeds per mutant (default: 50)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once (default: 2)")
    parser.add_argument("--only", action="append", help="run only this mutant (repeatable)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per mutant")
    parser.add_argument("--goal", type=float, default=0.9, help="share of mutants to catch (default: 0.9)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    parser.add_argument("--verify-cli", action="store_true", help="re-run each catch as `etcdplay simulate`")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = parser.parse_args(argv)
    if args.list:
        for m in MUTANTS:
            print(f"{m.name:28} {m.path:24} {m.what}")
        return 0
    if args.seeds < 1 or args.jobs < 1:
        print("error: --seeds and --jobs must be at least 1", file=sys.stderr)
        return 2
    known = {m.name: m for m in MUTANTS}
    unknown = [n for n in args.only or [] if n not in known]
    if unknown:
        print(f"error: no mutant named {', '.join(unknown)} (see --list)", file=sys.stderr)
        return 2
    chosen = [known[n] for n in args.only] if args.only else list(MUTANTS)
    first, last = args.seed, args.seed + args.seeds - 1
    print(f"scenario {args.scenario}, seeds {first}..{last}, {len(chosen)} mutant(s), {args.jobs} at once")
    # SIGTERM unwinds like Ctrl-C: running simulations are killed and every
    # temporary copy of the package is removed
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        with tempfile.TemporaryDirectory(prefix="etcdplay-mutation-base-") as base:
            return _score(args, chosen, first, last, snapshot(Path(base)))
    except KeyboardInterrupt:
        print("interrupted: every simulation stopped, temporary copies removed", file=sys.stderr)
        return 130


def _score(args: argparse.Namespace, chosen: list[Mutant], first: int, last: int, base: Path) -> int:
    started = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures: dict[concurrent.futures.Future[dict[str, Any]], str] = {}
        if not args.no_baseline:
            unmutated = pool.submit(run_mutant, None, args.scenario, first, last, args.timeout, base)
            futures[unmutated] = "(unmutated)"
        for m in chosen:
            futures[pool.submit(run_mutant, m, args.scenario, first, last, args.timeout, base)] = m.name
        try:
            for future in concurrent.futures.as_completed(futures):
                name = futures[future]
                results[name] = future.result()
                r = results[name]
                if r.get("caught_at") is not None:
                    state = f"caught at seed {r['caught_at']} by {', '.join(map(str, r.get('checks') or []))}"
                elif r.get("crashed"):
                    state = f"crashed: {r['crashed']}"
                elif name == "(unmutated)":
                    state = "passed every seed"
                else:
                    state = "missed"
                print(f"  {name:28} {state}  ({r.get('seconds', '?')} s)", flush=True)
        except KeyboardInterrupt:
            # before the pool waits for its threads: they return once their
            # simulation is killed, removing their copies on the way out
            _stop_all()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    baseline = results.get("(unmutated)")
    if baseline is not None and (baseline.get("caught_at") is not None or baseline.get("crashed")):
        print(f"error: the unmutated code fails: {baseline}", file=sys.stderr)
        return 1
    if args.verify_cli:
        for m in chosen:
            seed = results[m.name].get("caught_at")
            if isinstance(seed, int):
                code = verify_cli(m, args.scenario, seed, base)
                results[m.name]["cli_exit"] = code
                print(f"  {m.name:28} etcdplay simulate {args.scenario} --seed {seed}: exit {code}")
    caught = [m.name for m in chosen if results[m.name].get("caught_at") is not None]
    crashed = [m.name for m in chosen if results[m.name].get("crashed")]
    elapsed = time.perf_counter() - started
    score = len(caught) / len(chosen)
    print()
    print(
        f"mutation score: {len(caught)}/{len(chosen)} caught by simulate's checks within seeds "
        f"{first}..{last} ({score:.0%}); crashed: {len(crashed)}; {elapsed:.0f} s"
    )
    missed = [m.name for m in chosen if m.name not in caught]
    if missed:
        print(f"missed: {', '.join(missed)}")
    if args.json:
        doc = {
            "scenario": args.scenario,
            "seeds": [first, last],
            "score": [len(caught), len(chosen)],
            "elapsed_s": round(elapsed, 1),
            "mutants": {m.name: {"what": m.what, "path": m.path, **results[m.name]} for m in chosen},
            "baseline": baseline,
        }
        args.json.write_text(json.dumps(doc, indent=1) + "\n")
    return 0 if score >= args.goal else 1


if __name__ == "__main__":
    sys.exit(main())
