#!/usr/bin/env python3
"""Ablation on the live samples of scripts/fidelity.py: the simulator with the
etcd lease counted in ticks (this branch), in time since leader contact (as
before), and without CheckQuorum. 1000 simulated trials per variant and case,
the sweep's LAN defaults; needs runs/fidelity/live-*.json from fidelity.py.

    python3 scripts/fidelity_ablation.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import ks_2samp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import etcdplay.sim.timers as timers  # noqa: E402
from etcdplay.sweep import failover as fo  # noqa: E402

#: name: (election timeout ms, heartbeat ms, PreVote, file slug)
CASES = {
    "100/1000": (1000.0, 100.0, False, "etcd-default-100-1000-ms"),
    "10/100": (100.0, 10.0, False, "10-100-ms"),
    "50/500 PreVote": (500.0, 50.0, True, "50-500-ms-PreVote"),
}


def live(slug: str) -> dict[str, np.ndarray]:
    out = {}
    for path in sorted((ROOT / "runs" / "fidelity").glob(f"live-*-{slug}.json")):
        version = path.name.split("-")[1]
        doc = json.loads(path.read_text())
        samples = doc["configurations"][0]["samples"]
        out[version] = np.array([s["downtime_ms"] for s in samples if s["downtime_ms"] is not None])
    return out


def main() -> None:
    in_ticks = timers.EtcdTickTimers.in_lease
    for variant in ("lease in ticks", "lease in time", "no CheckQuorum"):
        # in_lease returning None makes the core measure the lease in time
        timers.EtcdTickTimers.in_lease = in_ticks if variant == "lease in ticks" else (lambda self: None)  # type: ignore[method-assign]
        for name, (et, hb, pre_vote, slug) in CASES.items():
            config = fo.FailoverConfig(
                timer="etcd",
                election_timeout_ms=et,
                heartbeat_ms=hb,
                pre_vote=pre_vote,
                check_quorum=variant != "no CheckQuorum",
            )
            sim = np.array([fo.sim_trial(config, seed)["downtime_ms"] for seed in range(1000)])
            parts = []
            for version, values in live(slug).items():
                ks = ks_2samp(values, sim).statistic
                dp50 = 100 * (np.median(sim) - np.median(values)) / np.median(values)
                parts.append(f"{version}: KS {ks:.2f} dp50 {dp50:+.1f}%")
            p50, p99 = np.percentile(sim, [50, 99])
            print(f"{variant:15} {name:15} sim p50 {p50:.0f} p99 {p99:.0f} | {'  '.join(parts)}", flush=True)


if __name__ == "__main__":
    main()
