"""`terminal --live --agents ...` (and web): the agent flags are checked before
anything starts, with one line naming the problem (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli_input import etcdplay


@pytest.mark.parametrize("command", ["terminal", "web"])
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--agents", "127.0.0.1:1"], "--agents: members on agents are real etcd; add --live"),
        (["--live", "--agents", "127.0.0.1:1", "--token-file", "/nonexistent/token"], "--token-file"),
        (["--live", "--agents", "127.0.0.1:1", "--etcd-bin", "/usr/bin/etcd"], "--etcd-bin: not with --agents"),
        (["--live", "--token-file", "x"], "--token-file is for agents"),
        (["--live", "--agents", " , "], "--agents: name at least one agent"),
    ],
)
def test_bad_agent_flags_are_one_line(command: str, args: list[str], expected: str, tmp_path: Path) -> None:
    run = etcdplay(command, *args, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert expected in run.stderr and "Traceback" not in run.stderr
    assert list(tmp_path.iterdir()) == []
