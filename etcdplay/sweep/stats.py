"""Summary statistics of samples: mean, percentiles, max.

Percentiles use numpy's default (linear interpolation between closest ranks,
the same as ``statistics.quantiles(method="inclusive")``), so p50 of
``[1, 2, 3, 4]`` is 2.5 and p99.9 of 1000 samples lies between the two largest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: (key, percentile) pairs reported for every metric.
PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99_9", 99.9))


def summarize(values: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """count, mean, stdev, min, p50, p90, p99, p99_9 and max of ``values``.

    With no values every statistic is ``None`` (JSON ``null``), so an empty
    configuration still has a well-formed summary.
    """
    arr = np.asarray(values, dtype=float)
    n = int(arr.size)
    if n == 0:
        return {
            "count": 0,
            "mean": None,
            "stdev": None,
            "min": None,
            **{key: None for key, _ in PERCENTILES},
            "max": None,
        }
    qs = np.percentile(arr, [q for _, q in PERCENTILES])
    return {
        "count": n,
        "mean": float(arr.mean()),
        "stdev": float(arr.std(ddof=1)) if n > 1 else 0.0,
        "min": float(arr.min()),
        **{key: float(v) for (key, _), v in zip(PERCENTILES, qs, strict=True)},
        "max": float(arr.max()),
    }


def rate(count: int, total: int) -> float | None:
    """count / total, or ``None`` when there is nothing to divide by."""
    return count / total if total else None
