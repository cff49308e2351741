"""Per-trial seeds that depend only on what the trial is, never on who runs it.

A trial's seed comes from (base seed, configuration index, trial index) through
a hash, so trials are independent streams, a sweep gives the same samples with
``--jobs 1``, ``--jobs 8`` or a Dask cluster, and any one trial can be rerun on
its own from the seed recorded with its sample.
"""

from __future__ import annotations

import hashlib

#: Seeds stay below 2**63 so every JSON reader and numpy can hold them.
_MASK = (1 << 63) - 1


def trial_seed(base: int, config: int, trial: int) -> int:
    """The seed of trial ``trial`` of configuration ``config`` in a sweep seeded ``base``."""
    digest = hashlib.blake2b(f"etcdplay-sweep:{base}:{config}:{trial}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & _MASK


def consecutive_seed(base: int, config: int, trial: int) -> int:
    """``base + trial`` whatever the configuration: scenario sweeps run every grid
    point on the same seeds (paired comparison), each replayable with
    ``etcdplay simulate --seed``."""
    del config
    return base + trial
