#!/usr/bin/env python3
"""AvailSim's WAN case, simulated: 5 servers, one-way latency uniform(30,40) ms,
election timeout 300-600 ms (the Raft paper's uniform timer, LogCabin's reset
semantics), heartbeat 150 ms (half the minimum timeout), disk fixed(1) ms,
logs all equal. The leader is crashed (and, in the second case, one more
server with it) at a random point of its heartbeat interval.

Published (AvailSim, as quoted in issue 13): mean election time about 475 ms
with the leader failed, about 650 ms with one more server failed.

    python3 scripts/availsim_wan.py --trials 2000
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from etcdplay.sim.failover import FailoverParams, run_failover_trial  # noqa: E402

PUBLISHED = {0: 475.0, 1: 650.0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--disk-ms", default="fixed(1)")
    args = ap.parse_args()
    for failed in (0, 1):
        params = FailoverParams(
            election_timeout_ms=(300.0, 600.0),
            heartbeat_ms=150.0,
            latency_ms="uniform(30,40)",
            disk_ms=args.disk_ms,
            failed=failed,
        )
        rows = [run_failover_trial(params, seed) for seed in range(args.trials)]
        election = [1000 * r["election"] for r in rows if r["election"] is not None]
        downtime = [1000 * r["downtime"] for r in rows if r["downtime"] is not None]
        print(
            f"failed: leader{' + 1' * failed}: {len(rows)} trials; mean election time "
            f"{statistics.mean(election):.0f} ms (published ~{PUBLISHED[failed]:g} ms), "
            f"median {statistics.median(election):.0f} ms; mean downtime (every survivor heard "
            f"the leader) {statistics.mean(downtime):.0f} ms",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
