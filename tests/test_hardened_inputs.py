"""Issue 14, "inputs that cannot hurt": outputs never replace what they must not,
deep nesting, badly typed traces and endless values are one-line errors (exit 2),
and a bug in etcdplay has its own exit status (3)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.clirun import run_cli

ROOT = Path(__file__).resolve().parents[1]
SIM_TRACE = ROOT / "tests" / "data" / "sim-leader-failure.jsonl"


def bad_input(ran: object, expected: str) -> None:
    code, stdout, stderr = ran.code, ran.stdout, ran.stderr  # type: ignore[attr-defined]
    assert code == 2, (code, stderr)
    assert "Traceback" not in stdout + stderr
    assert expected in stderr, stderr


# --- item 12: --out over symlinks and devices ------------------------------------------------


def test_out_writes_through_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "real.jsonl"
    target.write_text("old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    ran = run_cli("simulate", "leader-failure", "-q", "--out", str(link))
    assert ran.code == 0, ran.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().startswith('{"t":0.0,"kind":"header"')
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.jsonl", "real.jsonl"]


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_out_never_replaces_a_device(tmp_path: Path) -> None:
    full = tmp_path / "full"
    os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))  # what /dev/full is
    ran = run_cli("simulate", "leader-failure", "-q", "--out", str(full))
    bad_input(ran, "No space left on device")
    assert stat.S_ISCHR(full.stat().st_mode)
    null = tmp_path / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # what /dev/null is
    ran = run_cli("simulate", "leader-failure", "-q", "--out", str(null))
    assert ran.code == 0, ran.stderr
    assert stat.S_ISCHR(null.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "null"]


def test_report_png_path_through_a_symlink_to_a_new_name(tmp_path: Path) -> None:
    from etcdplay.files import atomic_path

    link = tmp_path / "x.png"
    link.symlink_to(tmp_path / "real.png")
    with atomic_path(link, "-o") as tmp:
        tmp.write_bytes(b"png")
    assert link.is_symlink() and (tmp_path / "real.png").read_bytes() == b"png"


# --- item 13: nesting ----------------------------------------------------------------------------


def _deep_toml(tmp_path: Path, depth: int) -> Path:
    path = tmp_path / "deep.toml"
    path.write_text(f'name = "x"\nfoo = {"[" * depth}{"]" * depth}\n')
    return path


def _deep_trace(tmp_path: Path, depth: int) -> Path:
    path = tmp_path / "deep.jsonl"
    lines = SIM_TRACE.read_text().splitlines()
    lines[3] = lines[3][:-1] + ',"x":' + "[" * depth + "]" * depth + "}"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("depth", [40, 1000, 5000])
@pytest.mark.parametrize("command", ["simulate", "live", "scenarios", "sweep"])
def test_deep_scenario(tmp_path: Path, depth: int, command: str) -> None:
    path = str(_deep_toml(tmp_path, depth))
    args = {
        "simulate": ["simulate", path],
        "live": ["live", path],
        "scenarios": ["scenarios", path],
        "sweep": ["sweep", "scenario", path, "--seeds", "1"],
    }[command]
    bad_input(run_cli(*args), "nested more than 32 levels deep")


@pytest.mark.parametrize("depth", [40, 5000])
@pytest.mark.parametrize("command", ["report", "compare", "replay"])
def test_deep_trace(tmp_path: Path, depth: int, command: str) -> None:
    path = str(_deep_trace(tmp_path, depth))
    args = {
        "report": ["report", path, "-o", str(tmp_path / "r.html")],
        "compare": ["compare", path, str(SIM_TRACE), "-o", str(tmp_path / "c.html")],
        "replay": ["simulate", "--replay", path],
    }[command]
    bad_input(run_cli(*args), "deep.jsonl:4: nested more than 32 levels deep")


# --- item 14: trace fields of the wrong type ----------------------------------------------------


CASES = [
    ("role", "term", "abc", "role event, field 'term'"),
    ("header", "nodes", 5, "header event, field 'nodes'"),
    ("header", "scenario", "x", "header event, field 'scenario'"),
    ("header", "seed", "abc", "header event, field 'seed'"),
    ("header", "seed", 1.5, "header event, field 'seed'"),
    ("client", "latency", "slow", "client event, field 'latency'"),
    ("client", "ok", "yes", "client event, field 'ok'"),
    ("commit", "commit", "7", "commit event, field 'commit'"),
    ("status", "running", 1, "status event, field 'running'"),
    ("check", "ok", None, "check event, field 'ok'"),
    ("fault", "nodes", "n1", "fault event, field 'nodes'"),
    ("status", "keys", 1e400, "status event, field 'keys'"),
]


def _bad_trace(tmp_path: Path, kind: str, field: str, value: object) -> tuple[Path, int]:
    lines = SIM_TRACE.read_text().splitlines()
    for number, line in enumerate(lines, start=1):
        event = json.loads(line)
        if event["kind"] == kind:
            event[field] = value
            lines[number - 1] = json.dumps(event)
            break
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path, number


@pytest.mark.parametrize(("kind", "field", "value", "message"), CASES)
def test_badly_typed_trace(tmp_path: Path, kind: str, field: str, value: object, message: str) -> None:
    path, number = _bad_trace(tmp_path, kind, field, value)
    where = f"bad.jsonl:{number}: {message}"
    bad_input(run_cli("report", str(path), "-o", str(tmp_path / "r.html")), where)
    bad_input(run_cli("compare", str(path), str(SIM_TRACE), "-o", str(tmp_path / "c.html")), where)
    if kind == "header":
        bad_input(run_cli("simulate", "--replay", str(path), "-q"), where)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl"]


# --- item 15: values that validate but never end ----------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            '[cluster]\nheartbeat_ms = 1e299\nelection_timeout_ms = 1e300\n[[steps]]\nat = 0\naction = "wait-for-leader"\n',
            "cluster.heartbeat_ms",
        ),
        ("[cluster]\nelection_timeout_ms = 1e300\n", "at most 50000"),
        (
            '[[steps]]\nat = 0\naction = "load"\nrate = 100000\nduration = 86400\n',
            "would cost about 8,640,000,000 writes",
        ),
        ("[cluster]\nsize = 25\nheartbeat_ms = 0.1\nelection_timeout_ms = 0.5\n", "cluster.heartbeat_ms"),
        (
            '[[steps]]\nat = 0\naction = "crash"\ntarget = "random:99999999999999999999"\n',
            "asks for 99999999999999999999 members",
        ),
        ("[cluster]\nsize = true\n", "cluster.size"),
        ("[chaos]\nfaults = true\n", "chaos.faults"),
    ],
)
def test_endless_values_are_refused(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text('name = "s"\n' + content)
    bad_input(run_cli("simulate", str(path), "-q"), expected)


def test_the_cost_estimate_is_above_the_builtins() -> None:
    from etcdplay import cost
    from etcdplay import scenario as scenarios

    for name in scenarios.builtin_names():
        assert cost.estimate(scenarios.load(name)).work < cost.MAX_WORK / 100


def test_too_many_jobs() -> None:
    bad_input(
        run_cli("sweep", "scenario", "leader-failure", "--seeds", "1", "--jobs", "100000"), "--jobs 100000"
    )


# --- item 16: an internal error is not a failed check -------------------------------------------


def test_internal_error_has_its_own_exit_status(monkeypatch: pytest.MonkeyPatch) -> None:
    import etcdplay.runner

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug\nsecond line")

    monkeypatch.setattr(etcdplay.runner, "run_scenario", broken)
    ran = run_cli("simulate", "leader-failure", "-q")
    assert ran.code == 3
    assert "Traceback" not in ran.stderr
    lines = [x for x in ran.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "internal error" in lines[0] and "RuntimeError: a bug" in lines[0]
    assert "report" in lines[0]
    saved = Path(lines[0].split("traceback in ")[1].split(";")[0])
    assert "Traceback" in saved.read_text()
    saved.unlink()


def test_huge_run_counts_are_refused_at_once() -> None:
    # --seeds 10**20 used to start a sweep that could never end
    bad_input(run_cli("sweep", "scenario", "chaos", "--seeds", "99999999999999999999"), "at most 10,000,000")
    bad_input(run_cli("sweep", "failover", "--trials", "99999999999999999999"), "at most 10,000,000")
