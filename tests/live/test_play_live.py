"""A play session on real etcd members: the same commands, real processes."""

from __future__ import annotations

import pytest

from etcdplay.live.etcd import live_pids
from etcdplay.play import PlaySession, SessionError
from etcdplay.play.session import wait_for
from etcdplay.runner import current_leader

from .conftest import ETCD_34, _available, scenario

pytestmark = [pytest.mark.live, pytest.mark.skipif(not _available(ETCD_34), reason="no etcd 3.4")]

PATIENCE = 60.0


def test_kill_the_leader_put_get_and_close_leaves_no_etcd() -> None:
    session = PlaySession(scenario(3), live=True, seed=1, etcd_bin=ETCD_34)
    session.start()
    try:
        assert session.info().capabilities["pause"] is False
        assert wait_for(lambda: current_leader(session.status()) is not None, PATIENCE)
        old = current_leader(session.status())
        assert session.do({"action": "kill", "node": old}, PATIENCE).ok
        assert wait_for(lambda: current_leader(session.status()) not in (None, old), PATIENCE)
        other = next(n for n in session.base.cluster.names if n != old)
        put = session.do({"action": "put", "key": "k", "value": "v", "node": other}, PATIENCE)
        assert put.ok, put.message
        got = session.do({"action": "get", "key": "k", "node": other}, PATIENCE)
        assert got.ok and got.op is not None and got.op["value"] == "v"
        with pytest.raises(SessionError, match="simulator only"):
            session.do({"action": "branch", "t": 0.0})
        roles = {e["node"] for e in session.events() if e["kind"] == "role" and e.get("role") == "leader"}
        assert roles  # raft events read from etcd's own logs
        assert "steps" in session.scenario_toml()
    finally:
        session.close()
    assert live_pids() == []
