"""Latency distributions written as short strings: ``fixed(2)``, ``uniform(5,10)``,
``normal(10,2)``, ``exponential(5)``.

Scenarios, the sweep command line and the simulator share this one parser so a
distribution means the same everywhere. Values are in milliseconds; ``sample``
returns seconds because the simulator's clock runs in seconds.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

KINDS: dict[str, int] = {"fixed": 1, "uniform": 2, "normal": 2, "exponential": 1}

_PATTERN = re.compile(r"^\s*([a-z]+)\s*\(\s*([^()]*)\)\s*$")


class DistributionError(ValueError):
    """A distribution string that cannot be parsed; the message says why."""


@dataclass(frozen=True, slots=True)
class Distribution:
    """A non-negative random duration in milliseconds."""

    kind: str
    params: tuple[float, ...]

    @classmethod
    def parse(cls, text: str | float | int) -> Distribution:
        """Parse ``kind(a[,b])``; a bare number means ``fixed(number)``."""
        if isinstance(text, bool) or not isinstance(text, str | int | float):
            raise DistributionError(f"expected a distribution such as 'fixed(2)', got {text!r}")
        if isinstance(text, int | float):
            return cls.fixed(float(text))
        stripped = text.strip()
        try:
            return cls.fixed(float(stripped))
        except ValueError:
            pass
        match = _PATTERN.match(stripped)
        if not match:
            raise DistributionError(
                f"cannot read {text!r}: expected one of fixed(ms), uniform(lo,hi), "
                "normal(mean,stddev), exponential(mean)"
            )
        kind, raw = match.group(1), match.group(2)
        if kind not in KINDS:
            raise DistributionError(
                f"unknown distribution {kind!r} in {text!r}: use one of {', '.join(KINDS)}"
            )
        try:
            params = tuple(float(p) for p in raw.split(",")) if raw.strip() else ()
        except ValueError:
            raise DistributionError(f"parameters of {text!r} must be numbers") from None
        if len(params) != KINDS[kind]:
            raise DistributionError(f"{kind} takes {KINDS[kind]} parameter(s), {text!r} has {len(params)}")
        if any(p < 0 or math.isnan(p) or math.isinf(p) for p in params):
            raise DistributionError(f"parameters of {text!r} must be finite and >= 0")
        if kind == "uniform" and params[0] > params[1]:
            raise DistributionError(f"uniform(lo,hi) needs lo <= hi in {text!r}")
        return cls(kind, params)

    @classmethod
    def fixed(cls, ms: float) -> Distribution:
        if ms < 0 or math.isnan(ms) or math.isinf(ms):
            raise DistributionError(f"a latency must be finite and >= 0 ms, got {ms}")
        return cls("fixed", (float(ms),))

    def sample(self, rng: random.Random) -> float:
        """One draw, in seconds, never negative."""
        kind, p = self.kind, self.params
        if kind == "fixed":
            ms = p[0]
        elif kind == "uniform":
            ms = rng.uniform(p[0], p[1])
        elif kind == "normal":
            ms = max(0.0, rng.gauss(p[0], p[1]))
        else:
            ms = rng.expovariate(1.0 / p[0]) if p[0] > 0 else 0.0
        return ms / 1000.0

    @property
    def mean_ms(self) -> float:
        if self.kind == "uniform":
            return (self.params[0] + self.params[1]) / 2
        return self.params[0]

    def __str__(self) -> str:
        return f"{self.kind}({','.join(f'{p:g}' for p in self.params)})"
