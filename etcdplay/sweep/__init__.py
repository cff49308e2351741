"""Experiments over many seeded trials: ``etcdplay sweep``.

- ``failover``: the leader-failover benchmark from the Raft literature, run on
  the fast failover model (``etcdplay.sim.failover``) or on a real cluster.
- ``scenario``: any scenario over a grid of ``--set`` overrides and seeds.

Trials are cut into chunks and run in process (``--jobs 1``), on a local
process pool, or on a Dask cluster; results stream back in trial order, so
the output depends only on the seed, never on how the work was spread.
"""

from etcdplay.sweep.errors import SweepError

__all__ = ["SweepError"]
