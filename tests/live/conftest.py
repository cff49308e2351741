"""Live tests start real etcd members (loopback only) with small timers."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from etcdplay.live.backend import LiveBackend
from etcdplay.live.etcd import live_pids
from etcdplay.scenario import Scenario, from_dict
from etcdplay.trace import TraceWriter

ETCD_34 = "/usr/bin/etcd"
ETCD_35 = shutil.which("etcd")

#: Small timers keep the suite fast; 10/100 ms is what etcd's own tests use.
FAST = {"heartbeat_ms": 10, "election_timeout_ms": 100}


def unexplained_failures(checks: Any) -> list[str]:
    """The failed checks of a live run, less those recognised as a known etcd
    bug (etcdplay.known_bugs). CI's etcd on PATH is 3.5.1, inside the range of
    etcd-io/etcd#13766: any run that SIGKILLs a member under writes can find it
    (README "Real etcd bugs"), and finding it is the checks working. Only the
    bug's whole signature is forgiven; anything else fails the test."""
    return [f"{c.name}: {c.detail}" for c in checks if not c.ok and not c.known_bug]


def _available(path: str | None) -> bool:
    return bool(path) and shutil.which(path) is not None  # type: ignore[arg-type]


BINARIES = [
    pytest.param(
        ETCD_34, id="etcd3.4", marks=pytest.mark.skipif(not _available(ETCD_34), reason="no etcd 3.4")
    ),
    pytest.param(
        ETCD_35, id="etcd3.5", marks=pytest.mark.skipif(not _available(ETCD_35), reason="no etcd 3.5")
    ),
]


def scenario(size: int = 3, **cluster: Any) -> Scenario:
    return from_dict({"name": "test", "status_interval": 0.1, "cluster": {"size": size, **FAST, **cluster}})


def compress(sc: Scenario, factor: float, size: int | None = None) -> Scenario:
    """The scenario with every time scaled by ``factor`` and fast timers (its
    timers are 10x the FAST ones, so halving its timeline keeps it meaningful)."""
    data = sc.to_dict()
    data["cluster"].update(FAST)
    data["cluster"]["timer"] = "etcd"
    if size is not None:
        data["cluster"]["size"] = size
    data["settle"] = data.get("settle", 5.0) * factor
    minority = (data["cluster"]["size"] - 1) // 2
    for step in data.get("steps", []):
        # Scenarios written for 5 members crash "followers:2": keep it a minority.
        target = step.get("target")
        if step["action"] in ("crash", "stop") and isinstance(target, str) and ":" in target:
            kind, count = target.split(":")
            step["target"] = f"{kind}:{min(int(count), minority)}"
        for key in ("at", "duration", "within"):
            if key in step:
                step[key] = round(step[key] * factor, 3)
    if "chaos" in data:
        chaos = data["chaos"]
        chaos["start"] = chaos.get("start", 2.0) * factor
        chaos["duration"] = chaos.get("duration", 30.0) * factor
        chaos["hold"] = [h * factor for h in chaos.get("hold", [1.0, 4.0])]
    return from_dict(data, "compressed")


@pytest.fixture
def trace() -> TraceWriter:
    return TraceWriter({"backend": "live"})


@pytest.fixture
def make_backend() -> Iterator[Any]:
    made: list[LiveBackend] = []

    def make(
        sc: Scenario, etcd_bin: str | None = None, trace: TraceWriter | None = None, **kw: Any
    ) -> LiveBackend:
        backend = LiveBackend(etcd_bin, **kw)
        made.append(backend)
        backend.start(sc, trace or TraceWriter({"backend": "live"}), 1)
        return backend

    yield make
    for backend in made:
        backend.close()
    assert live_pids() == [], "an etcd process outlived its test"
