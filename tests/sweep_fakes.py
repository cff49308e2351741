"""A stand-in trial for executor tests: cheap, deterministic in its seed."""

from __future__ import annotations

import random
from typing import Any


def fake_trial(payload: dict[str, Any], seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    rounds = 1 + (rng.random() < payload.get("split", 0.1))
    return {
        "downtime_ms": round(payload["base"] + rng.expovariate(1 / 50.0) * rounds, 3),
        "first_candidate_ms": round(payload["base"] + rng.uniform(0, 10), 3),
        "rounds": rounds,
        "split_votes": rounds - 1,
        "messages": 10 * rounds,
        "winner": f"n{rng.randint(2, 5)}",
    }
