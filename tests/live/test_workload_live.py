"""The workload step, the linearizability and divergence checks and the etcd
flags pass-through on real etcd; and the opt-in bug hunt (marker ``hunt``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from etcdplay.live.backend import LiveBackend
from etcdplay.live.etcd import live_pids
from etcdplay.runner import make_header, run_scenario
from etcdplay.scenario import from_dict
from etcdplay.trace import TraceWriter

from .conftest import BINARIES, FAST, unexplained_failures

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("etcd_bin", BINARIES)
def test_workload_under_a_kill_is_linearizable(etcd_bin: str) -> None:
    sc = from_dict(
        {
            "name": "wl",
            "settle": 5.0,
            "status_interval": 0.2,
            # 25/250 ms timers: with 10/100 ms a loaded machine holds elections
            # no fault caused, and a workload this short then proves little
            "cluster": {
                "size": 3,
                "heartbeat_ms": 25,
                "election_timeout_ms": 250,
                "etcd_flags": {"snapshot-count": 50},
            },
            "steps": [
                {"at": 0.0, "action": "wait-for-leader"},
                {
                    "at": 0.1,
                    "action": "workload",
                    "clients": 6,
                    "duration": 3.0,
                    "keys": 4,
                    "mix": {"put": 40, "get": 40, "delete": 5, "txn": 15},
                },
                {"at": 1.0, "action": "crash", "target": "random"},
                {"at": 1.8, "action": "restart"},
            ],
        }
    )
    backend = LiveBackend(etcd_bin)
    result = run_scenario(sc, backend, 1, TraceWriter(make_header(sc, 1, "live", **backend.header_fields())))
    failed = unexplained_failures(result.checks)
    assert not failed, failed
    ops = [e for e in result.trace.events if e["kind"] == "client" and e.get("source") == "workload"]
    assert len(ops) > 50
    assert all(e["invoked"] <= e["t"] for e in ops)
    txns = [e for e in ops if e["op"] == "txn" and e["ok"]]
    assert txns and {e["succeeded"] for e in txns} == {True, False}
    lin = next(c for c in result.checks if c.name == "linearizable")
    assert lin.ok and not lin.skipped
    div = next(c for c in result.checks if c.name == "no-divergence")
    assert div.ok and not div.skipped
    statuses = [e for e in result.trace.events if e["kind"] == "status" and e.get("hash") is not None]
    assert statuses and all("hash_revision" in e for e in statuses)
    notes = " ".join(e.get("text", "") for e in result.trace.events if e["kind"] == "note")
    assert "--snapshot-count=50" in notes
    assert live_pids() == []


def test_a_reserved_etcd_flag_is_refused() -> None:
    sc = from_dict({"name": "bad", "cluster": {"size": 1, **FAST, "etcd_flags": {"data-dir": "/tmp/x"}}})
    backend = LiveBackend(BINARIES[0].values[0])
    with pytest.raises(Exception, match="set by etcdplay itself"):
        backend.start(sc, TraceWriter({"backend": "live"}), 1)
    backend.close()
    assert live_pids() == []


# --- the slow hunt: opt-in -------------------------------------------------------------

HUNT_BIN = os.environ.get("ETCDPLAY_HUNT_BIN")


@pytest.mark.hunt
@pytest.mark.skipif(
    not HUNT_BIN, reason="set ETCDPLAY_HUNT_BIN=PATH (and ETCDPLAY_HUNT_EXPECT=found|nothing)"
)
def test_bug_hunt(tmp_path: Path) -> None:
    """A real hunt with scripts/bug_hunt.py: on an etcd inside 3.5.0-3.5.2
    expect it to find etcd-io/etcd#13766 (ETCDPLAY_HUNT_EXPECT=found), on a
    fixed one nothing (=nothing). Minutes, not seconds."""
    expect = os.environ.get("ETCDPLAY_HUNT_EXPECT", "found")
    budget = os.environ.get("ETCDPLAY_HUNT_BUDGET", "10m")
    results = tmp_path / "results.jsonl"
    subprocess.run(
        [
            *(sys.executable, str(ROOT / "scripts" / "bug_hunt.py"), "--etcd-bin", str(HUNT_BIN)),
            *("--budget", budget, "--out-dir", str(tmp_path), "--results", str(results)),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
        timeout=3600,
    )
    record = json.loads(results.read_text().splitlines()[-1])
    assert record["found"] == (expect == "found"), record
    assert live_pids() == []
