"""Thin long series so a report of an hour-long run stays small and smooth.

Only sampled series (status, commit, client latency) are thinned; role changes
and faults are never dropped. Thinning keeps every change of a step series
(terms) and the minimum and maximum of each time bucket of a dense series, so
spikes and dips stay visible at any zoom the page opens at.
"""

from __future__ import annotations

import numpy as np

#: Points per series kept by default: plenty for a 1-2k pixel wide plot.
MAX_POINTS = 2000


def changes(t: list[float], v: list[float]) -> tuple[list[float], list[float]]:
    """Keep the first point, every point whose value differs from the one before, and the last."""
    if len(t) <= 2:
        return list(t), list(v)
    keep_t = [t[0]]
    keep_v = [v[0]]
    for i in range(1, len(t) - 1):
        if v[i] != v[i - 1]:
            keep_t.append(t[i])
            keep_v.append(v[i])
    keep_t.append(t[-1])
    keep_v.append(v[-1])
    return keep_t, keep_v


def minmax(
    t: list[float] | np.ndarray, v: list[float] | np.ndarray, max_points: int = MAX_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """At most about ``max_points`` points: per time bucket, its min and max, in time order."""
    ta = np.asarray(t, dtype=float)
    va = np.asarray(v, dtype=float)
    if ta.size <= max_points:
        return ta, va
    buckets = max(1, max_points // 2)
    span = ta[-1] - ta[0]
    if span <= 0:
        return ta[[0, -1]], va[[0, -1]]
    which = np.minimum(((ta - ta[0]) / span * buckets).astype(np.int64), buckets - 1)
    # sort by (bucket, value): the first of each bucket is its min, the last its max
    order = np.lexsort((va, which))
    sorted_which = which[order]
    starts = np.flatnonzero(np.r_[True, sorted_which[1:] != sorted_which[:-1]])
    ends = np.r_[starts[1:], sorted_which.size] - 1
    keep = np.unique(np.r_[order[starts], order[ends], 0, ta.size - 1])
    return ta[keep], va[keep]


def thin(
    t: list[float], v: list[float], max_points: int = MAX_POINTS, *, step: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Changes only, then min/max buckets if still too long. ``step`` series keep every change."""
    ct, cv = changes(t, v)
    if step:
        return np.asarray(ct, dtype=float), np.asarray(cv, dtype=float)
    return minmax(ct, cv, max_points)
