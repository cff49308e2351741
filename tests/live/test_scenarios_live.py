"""Every built-in scenario runs on real etcd and its checks hold."""

from __future__ import annotations

import pytest

from etcdplay import checks
from etcdplay.live.backend import LiveBackend
from etcdplay.live.etcd import live_pids
from etcdplay.runner import make_header, run_scenario
from etcdplay.scenario import builtin_names, load_builtin
from etcdplay.trace import TraceWriter

from .conftest import ETCD_34, ETCD_35, compress, unexplained_failures

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
