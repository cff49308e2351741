"""Every built-in scenario runs on real etcd and its checks hold."""

from __future__ import annotations

import pytest

from etcdplay import checks
from etcdplay.live.backend import LiveBackend
from etcdplay.live.etcd import live_pids
from etcdplay.runner import make_header, run_scenario
from etcdplay.scenario import builtin_names, from_dict, load_builtin
from etcdplay.trace import TraceWriter

from .conftest import BINARIES, ETCD_34, ETCD_35, FAST, compress, unexplained_failures

pytestmark = [pytest.mark.live, pytest.mark.slow]

# Each scenario at 3 members on etcd 3.4 and at 5 on etcd 3.5: both versions,
# both sizes, every scenario, in about two minutes on two cores.
CASES = [(name, 3, ETCD_34) for name in builtin_names()] + [(name, 5, ETCD_35) for name in builtin_names()]


@pytest.mark.parametrize(
    ("name", "size", "etcd_bin"),
    [pytest.param(n, s, b, id=f"{n}-{s}-{'3.4' if b == ETCD_34 else '3.5'}") for n, s, b in CASES],
)
def test_builtin_scenario_holds_live(name: str, size: int, etcd_bin: str | None) -> None:
    sc = compress(load_builtin(name), 0.5, size=size).expanded(7)
    backend = LiveBackend(etcd_bin)
    writer = TraceWriter(make_header(sc, 7, "live", **backend.header_fields()))
    result = run_scenario(sc, backend, 7, writer)
    failed = unexplained_failures(result.checks)
    assert not failed, failed
    names = {c.name for c in result.checks}
    assert {"one-leader-per-term", "convergence", "no-acked-write-lost"} <= names
    # The trace feeds the checks: role events from etcd's log, client events from the load.
    kinds = {e["kind"] for e in result.trace.events}
    assert {"role", "leader", "status", "step", "check", "end"} <= kinds
    assert checks.one_leader_per_term(result.trace.events).ok
    assert live_pids() == []
    assert backend.dir is not None and not backend.dir.exists()


@pytest.mark.parametrize("etcd_bin", BINARIES)
def test_members_restarted_at_the_end_are_waited_for(etcd_bin: str) -> None:
    """A restarted etcd serves clients only once it has published itself
    through Raft: the final convergence check waits for it instead of
    reporting "no status from n1, n2" (what it did, settle being this short)."""
    sc = from_dict(
        {
            "name": "restart-at-the-end",
            "settle": 0.05,
            "status_interval": 0.1,
            "cluster": {"size": 3, **FAST},
            "steps": [
                {"at": 0.0, "action": "wait-for-leader"},
                {"at": 0.5, "action": "crash", "target": ["n1", "n2"]},
                {"at": 1.0, "action": "restart", "target": ["n1", "n2"]},
            ],
        }
    ).expanded(1)
    backend = LiveBackend(etcd_bin)
    result = run_scenario(sc, backend, 1, TraceWriter(make_header(sc, 1, "live", **backend.header_fields())))
    convergence = next(c for c in result.checks if c.name == "convergence")
    assert convergence.ok, convergence.detail
    assert live_pids() == []
