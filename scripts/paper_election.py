#!/usr/bin/env python3
"""The Raft paper's leader-election figure (Figure 16; dissertation ch. 9), simulated.

The experiment (Ongaro & Ousterhout, "In Search of an Understandable
Consensus Algorithm", USENIX ATC 2014, section 9.3 and Figure 16): a
five-server LogCabin cluster; the leader is crashed uniformly at random
within its heartbeat interval (half the minimum election timeout), right
after a synchronous heartbeat round, and servers have different log lengths
so some cannot win. Each line of the figure is 1000 trials (100 for
150-150 ms); the caption gives a broadcast time of roughly 15 ms.

Here: the simulator's ``uniform`` timer with LogCabin's semantics, read in
LogCabin's Server/RaftConsensus.cc: no timer reset on stepping down to a
higher term (``stepDown`` calls ``setElectionTimer`` only for a former
leader), and votes withheld for ELECTION_TIMEOUT_MS (the minimum timeout)
after hearing from a leader (``withholdVotesUntil`` in ``handleRequestVote``;
the simulator's time-measured CheckQuorum lease is that rule). 2 of the 4
survivors are stale (their logs miss the last entry), heartbeat = lo / 2,
and ONE network and disk setting for all ranges: the simulator's LAN
defaults, one-way latency uniform(0.5,1.5) ms and fsync fixed(1) ms
(``--latency-ms``, ``--disk-ms``; not fitted per range).

What the paper states in its text (section 9.3), the only numbers used as
"published" here (the figure itself is not digitized):

* 150-150 ms: "consistently took longer than 10 seconds"
* 150-155 ms: "a median downtime of 287ms"
* 150-200 ms: "the worst-case completion time (over 1000 trials) was 513ms"
* 12-24 ms: "only 35ms on average ... (the longest trial took 152ms)"

    python3 scripts/paper_election.py --trials 1000 --out runs/paper
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from etcdplay.distributions import Distribution  # noqa: E402
from etcdplay.sim.failover import FailoverParams, run_failover_trial  # noqa: E402

TOP = [(150, 151), (150, 155), (150, 175), (150, 200), (150, 300)]
BOTTOM = [(12, 24), (25, 50), (50, 100), (100, 200), (150, 300)]
RANGES = [*TOP, *[r for r in BOTTOM if r not in TOP]]  # the nine distinct ranges

#: Linux's default timer slack for a thread (50 us, prctl PR_SET_TIMERSLACK):
#: a timed wait such as LogCabin's election timer may wake up to that late.
JITTER_MS = 0.05

#: (range, statistic, value in ms, quote) from the paper's section 9.3 text.
PUBLISHED: list[tuple[tuple[int, int], str, float, str]] = [
    ((150, 150), "% over 10 s", 100.0, "consistently took longer than 10 seconds"),
    ((150, 155), "p50", 287.0, "a median downtime of 287ms"),
    ((150, 200), "max", 513.0, "worst-case completion time (over 1000 trials) was 513ms"),
    ((12, 24), "mean", 35.0, "only 35ms on average to elect a leader"),
    ((12, 24), "max", 152.0, "the longest trial took 152ms"),
]


def _params(
    lo: int, hi: int, latency: str, disk: str, stale: int, withhold: bool, jitter_ms: float
) -> FailoverParams:
    return FailoverParams(
        election_timeout_ms=(float(lo), float(hi)),
        heartbeat_ms=lo / 2,
        latency_ms=latency,
        disk_ms=disk,
        stale_followers=stale,
        check_quorum=withhold,  # its time-measured lease is LogCabin's withholdVotesUntil
        timer_jitter_ms=jitter_ms,
        max_seconds=120.0,
    )


def _distribution_check(*texts: str) -> None:
    for text in texts:
        Distribution.parse(text)


def run(
    lo: int,
    hi: int,
    trials: int,
    latency: str,
    disk: str,
    stale: int,
    withhold: bool = True,
    jitter_ms: float = 0.0,
    first_seed: int = 0,
) -> dict[str, Any]:
    params = _params(lo, hi, latency, disk, stale, withhold, jitter_ms)
    rows = [run_failover_trial(params, seed) for seed in range(first_seed, first_seed + trials)]
    election = [1000 * r["election"] for r in rows if r["election"] is not None]
    downtime = [1000 * r["downtime"] for r in rows if r["downtime"] is not None]
    return {
        "range": f"{lo}-{hi}",
        "trials": trials,
        "timed_out": sum(1 for r in rows if r["timed_out"]),
        "split_trials": sum(1 for r in rows if r["split_votes"] > 0),
        "election_ms": _summary(election),
        "downtime_ms": _summary(downtime),
        "samples": {"election_ms": election, "downtime_ms": downtime},
    }


def _summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "p50": None, "p90": None, "p99": None, "max": None, "min": None}
    a = np.asarray(values)
    return {
        "mean": float(a.mean()),
        "min": float(a.min()),
        "p50": float(np.percentile(a, 50)),
        "p90": float(np.percentile(a, 90)),
        "p99": float(np.percentile(a, 99)),
        "max": float(a.max()),
    }


def _ms(value: float | None) -> str:
    """A statistic in whole ms, or "-" when no trial elected a leader."""
    return "-" if value is None else f"{value:.0f}"


def _compare(
    results: list[dict[str, Any]], rng: Any, stat: str, value: float, quote: str
) -> dict[str, Any] | None:
    lo, hi = rng
    r = next((x for x in results if x["range"] == f"{lo}-{hi}"), None)
    if r is None:
        return None
    if stat == "% over 10 s":  # trials with no leader within the limit count as over
        over = sum(1 for x in r["samples"]["election_ms"] if x > 10000) + r["timed_out"]
        sim = 100.0 * over / r["trials"]
    else:
        sim = r["election_ms"][stat]
    return {"range": f"{lo}-{hi}", "stat": stat, "published": value, "sim": sim, "quote": quote}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--latency-ms", default="uniform(0.5,1.5)", help="one-way latency")
    ap.add_argument("--disk-ms", default="fixed(1)", help="fsync latency")
    ap.add_argument("--no-withhold", action="store_true", help="without LogCabin's withholdVotesUntil lease")
    ap.add_argument(
        "--timer-jitter-ms",
        type=float,
        default=JITTER_MS,
        help="each election timeout fires late by uniform(0, this) ms (default: Linux's timer slack)",
    )
    ap.add_argument(
        "--first-seed", type=int, default=0, help="trials use seeds first-seed, first-seed + 1, ..."
    )
    ap.add_argument("--stale", type=int, default=2, help="survivors whose logs are too short to win")
    ap.add_argument("--fixed", action="store_true", help="also run 150-150 ms (100 trials, as the paper)")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "paper")
    ap.add_argument("--png", type=Path, default=ROOT / "docs" / "paper-election.png")
    ap.add_argument("--replot", action="store_true", help="redraw from --out's JSON, no simulation")
    args = ap.parse_args()
    if args.trials < 1 or args.first_seed < 0:
        ap.error("--trials must be at least 1 and --first-seed at least 0")
    try:  # the settings, checked once before any trial runs
        for lo, hi in RANGES:
            _params(lo, hi, args.latency_ms, args.disk_ms, args.stale, True, args.timer_jitter_ms).validate()
        _distribution_check(args.latency_ms, args.disk_ms)
    except ValueError as exc:
        ap.error(str(exc))
    args.out.mkdir(parents=True, exist_ok=True)
    saved = args.out / "paper-election.json"
    if args.replot:
        doc = json.loads(saved.read_text())
        results = doc["results"]
        found = (_compare(results, rng, stat, value, quote) for rng, stat, value, quote in PUBLISHED)
        compared = [c for c in found if c is not None]
        picture(results, compared, doc["setting"], args.out, args.png)
        return 0
    ranges = [*([(150, 150)] if args.fixed else []), *RANGES]
    results = []
    for lo, hi in ranges:
        trials = min(args.trials, 100) if lo == hi else args.trials
        r = run(
            lo,
            hi,
            trials,
            args.latency_ms,
            args.disk_ms,
            args.stale,
            not args.no_withhold,
            args.timer_jitter_ms,
            args.first_seed,
        )
        e, d = r["election_ms"], r["downtime_ms"]
        print(
            f"{r['range']:>8} ms: {trials} trials, election p50 {_ms(e['p50'])} mean {_ms(e['mean'])} "
            f"p99 {_ms(e['p99'])} max {_ms(e['max'])}; downtime p50 {_ms(d['p50'])} max {_ms(d['max'])}; "
            f"split {r['split_trials']}, timed out {r['timed_out']}",
            flush=True,
        )
        results.append(r)
    setting = {
        "latency_ms": args.latency_ms,
        "disk_ms": args.disk_ms,
        "stale_followers": args.stale,
        "withhold_votes": not args.no_withhold,
        "timer_jitter_ms": args.timer_jitter_ms,
        "first_seed": args.first_seed,
    }
    compared = []
    for rng, stat, value, quote in PUBLISHED:
        c = _compare(results, rng, stat, value, quote)
        if c:
            compared.append(c)
            print(f"published {c['range']} {stat}: {value:g} ({quote!r}); simulated {_ms(c['sim'])}")
    doc = {"setting": setting, "published": compared, "results": results}
    (args.out / "paper-election.json").write_text(json.dumps(doc))
    picture(results, compared, setting, args.out, args.png)
    return 0


def picture(
    results: list[dict[str, Any]],
    compared: list[dict[str, Any]],
    setting: dict[str, Any],
    out: Path,
    png: Path,
) -> None:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from etcdplay.sweep.plot import cdf_points

    fig = make_subplots(
        rows=2,
        cols=2,
        column_widths=[0.62, 0.38],
        subplot_titles=(
            "simulated: varying randomness (cf. the paper's top graph)",
            "published vs simulated (paper's text, section 9.3)",
            "simulated: varying the minimum timeout (cf. bottom graph)",
            "",
        ),
        specs=[[{}, {"rowspan": 2, "type": "table"}], [{}, None]],
    )
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
    for row, group in ((1, TOP), (2, BOTTOM)):
        for i, (lo, hi) in enumerate(group):
            r = next((x for x in results if x["range"] == f"{lo}-{hi}"), None)
            if r is None:
                continue
            x, cdf, _ = cdf_points(r["samples"]["election_ms"])
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=100 * cdf,
                    mode="lines",
                    name=f"{lo}-{hi} ms",
                    line={"color": palette[i % len(palette)]},
                    legendgroup=f"g{row}",
                ),
                row=row,
                col=1,
            )
        fig.update_xaxes(type="log", title_text="election time after the crash (ms)", row=row, col=1)
        fig.update_yaxes(title_text="cumulative %", range=[0, 101], row=row, col=1)
    for c in compared:
        if c["stat"].startswith("%"):
            continue  # not a time
        row = 2 if c["range"] == "12-24" else 1
        fig.add_trace(
            go.Scatter(
                x=[c["published"]],
                y=[50 if c["stat"] in ("p50", "mean") else 100],
                mode="markers",
                marker={"symbol": "x", "size": 12, "color": "black"},
                name=f"published {c['range']} {c['stat']}",
                showlegend=False,
                hovertext=c["quote"],
            ),
            row=row,
            col=1,
        )
    fig.add_trace(
        go.Table(
            header={"values": ["range (ms)", "statistic (ms)", "published", "simulated"]},
            cells={
                "values": [
                    [c["range"] for c in compared],
                    [c["stat"] for c in compared],
                    [f"{c['published']:g}" for c in compared],
                    [f"{c['sim']:.0f}" if c["sim"] is not None else "-" for c in compared],
                ]
            },
        ),
        row=1,
        col=2,
    )
    fig.update_layout(
        title=(
            "Raft paper Figure 16, simulated (x: published numbers from the text). One setting for all: "
            f"latency {setting['latency_ms']} one way, disk {setting['disk_ms']}, "
            f"{setting['stale_followers']} stale survivors, "
            f"timer jitter {setting.get('timer_jitter_ms', 0):g} ms"
        ),
        width=1500,
        height=800,
    )
    fig.write_html(out / "paper-election.html", include_plotlyjs=True)
    from etcdplay.report.errors import ReportError
    from etcdplay.report.png import write_png

    try:
        write_png([fig], png, title="Raft paper Figure 16, simulated")
        print(f"plot: {png}")
    except ReportError as exc:
        print(f"PNG not written ({exc})")


if __name__ == "__main__":
    raise SystemExit(main())
