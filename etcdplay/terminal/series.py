"""Write throughput and latency per second of trace time, for the sparklines.

A fold like ``ClusterView``: client events in, one bucket per whole second
of trace time out. Kept apart from the view because it is only about drawing
(the last minute), not about the cluster's state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from etcdplay.trace import Event


@dataclass
class _Bucket:
    writes: int = 0
    latency_sum: float = 0.0


@dataclass
class WriteSeries:
    """Acknowledged puts per second and their mean latency, the last ``span`` seconds."""

    span: int = 60
    buckets: dict[int, _Bucket] = field(default_factory=dict)
    now: float = 0.0

    def apply(self, event: Event) -> None:
        t = float(event.get("t", 0.0))
        self.now = max(self.now, t)
        if event.get("kind") != "client" or event.get("op") != "put" or not event.get("ok"):
            return
        second = math.floor(t)
        bucket = self.buckets.get(second)
        if bucket is None:
            bucket = self.buckets[second] = _Bucket()
            self._forget(second)
        bucket.writes += 1
        bucket.latency_sum += float(event.get("latency") or 0.0)

    def _forget(self, newest: int) -> None:
        for second in [s for s in self.buckets if s <= newest - self.span]:
            del self.buckets[second]

    def _seconds(self) -> range:
        last = math.floor(self.now)
        return range(last - self.span + 1, last + 1)  # always ``span`` seconds: a steady scale

    def throughput(self) -> list[float]:
        """Writes acknowledged in each second (the last one still filling)."""
        return [float(self.buckets[s].writes) if s in self.buckets else 0.0 for s in self._seconds()]

    def latency_ms(self) -> list[float]:
        """Mean write latency in each second, in ms (0 for a second without writes)."""
        out = []
        for s in self._seconds():
            b = self.buckets.get(s)
            out.append(b.latency_sum / b.writes * 1000 if b and b.writes else 0.0)
        return out

    def last_complete(self) -> tuple[float, float]:
        """(writes/s, mean latency ms) of the last whole second."""
        second = math.floor(self.now) - 1
        b = self.buckets.get(second)
        if b is None or not b.writes:
            return 0.0, 0.0
        return float(b.writes), b.latency_sum / b.writes * 1000
