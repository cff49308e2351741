"""Real-time mode paces virtual time to the wall clock (loose bounds only)."""

from __future__ import annotations

import time

from etcdplay.scenario import Scenario
from etcdplay.sim.backend import SimBackend
from etcdplay.trace import TraceWriter


def make(speed: float) -> tuple[SimBackend, TraceWriter]:
    backend = SimBackend(realtime_speed=speed)
    trace = TraceWriter({"backend": "sim"})
    backend.start(Scenario.model_validate({"cluster": {"size": 3}}), trace, 5)
    return backend, trace


def test_sleep_takes_wall_time_at_the_given_speed() -> None:
    backend, _ = make(10.0)
    began = time.monotonic()
    backend.sleep(2.0)  # two virtual seconds at 10x: about 0.2 s
    wall = time.monotonic() - began
    # paced: it takes wall time (the upper bound only guards against a hang;
    # a loaded machine makes the simulation fall behind, never run ahead)
    assert 0.15 <= wall <= 20.0
    assert 1.9 <= backend.now() <= 2.6
    backend.close()


def test_background_thread_moves_time_and_takes_operations() -> None:
    backend, trace = make(20.0)
    seen: list[str] = []
    backend_thread = backend.run_forever_in_thread()
    trace.subscribe(lambda e: seen.append(e["kind"]))
    # Time moves on its own (20x): wait for it, not a fixed while (the
    # thread may be starved on a loaded machine), then for an election.
    deadline = time.monotonic() + 30
    while backend.now() <= 1.5:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    while not any(s.role == "leader" for s in backend.status()):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    result = backend.put("live", "yes")
    assert result.ok
    assert backend.get("live").value == "yes"
    assert "status" in seen and "client" in seen
    backend.close()
    assert not backend_thread.is_alive()
    frozen = backend.now()
    time.sleep(0.05)
    assert backend.now() == frozen  # closed: time stands still
