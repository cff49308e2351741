"""``etcdplay sweep``: the typer sub-app (registered in cli.py as ``sweep``)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from etcdplay.agent.options import (
    AgentCaOption,
    AgentOptions,
    AgentsOption,
    TokenFileOption,
    agent_options,
)
from etcdplay.backend import BackendError
from etcdplay.distributions import DistributionError
from etcdplay.files import OutputError, check_distinct
from etcdplay.scenario import ScenarioError
from etcdplay.scenario import load as load_scenario
from etcdplay.sweep import failover as fo
from etcdplay.sweep import output, plot
from etcdplay.sweep.errors import SweepError
from etcdplay.sweep.executor import Chunk, TrialError
from etcdplay.sweep.overrides import expand, point_label
from etcdplay.sweep.run import Outcome, Sweep, consume, labelled, run_sweep
from etcdplay.sweep.scenario_sweep import METRICS, ScenarioAggregate, check_trial, payload, scenario_trial
from etcdplay.sweep.seeds import consecutive_seed, trial_seed

sweep_app = typer.Typer(
    name="sweep",
    help="Experiments over many seeded trials: the leader-failover benchmark and scenario sweeps.",
    no_args_is_help=True,
    add_completion=False,
)

F = TypeVar("F", bound=Callable[..., Any])


def _err() -> Console:
    return Console(stderr=True)


def friendly(fn: F) -> F:
    """Bad input is one line on stderr and exit code 2; a failed trial exit code 1;
    Ctrl-C one line and exit code 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (SweepError, ScenarioError, DistributionError, OutputError, BackendError) as exc:
            message = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            _err().print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except TrialError as exc:
            _err().print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            # typer would exit 130 without a word; outputs are written whole or not at all
            _err().print("interrupted: no output written", highlight=False)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


#: Runs per grid point at the most: 10 million chaos seeds take days on 2 cores
#: (docs/sweep.md has the rates), and a number past it is a typo, not a plan.
MAX_RUNS_PER_POINT = 10_000_000


def _positive(name: str, value: int) -> int:
    if value < 1:
        raise SweepError(f"{name} must be at least 1, got {value}")
    if value > MAX_RUNS_PER_POINT:
        raise SweepError(f"{name} {value}: at most {MAX_RUNS_PER_POINT:,} per configuration")
    return value


def _print_rate(console: Console, outcome: Outcome, unit: str = "trials") -> None:
    console.print(
        f"{outcome.trials} {unit} in {outcome.elapsed:.2f} s ({outcome.rate:,.1f} {unit}/s)", highlight=False
    )


def _other_documents(paths: list[Path]) -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in paths:
        doc = output.load(path)
        docs.append((f"{doc.get('backend', '?')} ({path.name})", doc))
    return docs


# --- failover -------------------------------------------------------------------------


# Options both sweeps take, declared once.
JobsOption = Annotated[
    int, typer.Option("--jobs", "-j", help="worker processes; 0 = every core, 1 = in process")
]
ClusterOption = Annotated[
    str | None, typer.Option(help="run on a Dask distributed cluster, e.g. tcp://scheduler:8786")
]


@sweep_app.command("failover")
@friendly
def failover(
    nodes: Annotated[
        list[int] | None, typer.Option("--nodes", "-n", help="cluster size (repeatable) (default: 5)")
    ] = None,
    election_timeout_ms: Annotated[
        list[str] | None,
        typer.Option(
            "--election-timeout-ms",
            "-e",
            help="uniform timer: a range in ms, '150-300'; etcd timer: etcd's --election-timeout, '1000'. "
            "Repeatable: one configuration each. (default: 150-300, etcd: 1000)",
        ),
    ] = None,
    heartbeat_ms: Annotated[
        list[float] | None,
        typer.Option(
            help="heartbeat interval in ms (repeatable) (default: half the smallest election "
            "timeout; etcd timer: election timeout / 10)"
        ),
    ] = None,
    latency_ms: Annotated[
        list[str] | None,
        typer.Option(
            help="one-way network latency distribution, e.g. 'uniform(5,10)' (repeatable) "
            "[default: uniform(0.5,1.5), a LAN]"
        ),
    ] = None,
    disk_ms: Annotated[
        list[str] | None,
        typer.Option(help="disk write (fsync) latency distribution (repeatable) (default: fixed(1))"),
    ] = None,
    stale_followers: Annotated[
        list[int] | None,
        typer.Option(help="followers whose logs are too short to win (repeatable) (default: 0)"),
    ] = None,
    failed: Annotated[
        list[int] | None,
        typer.Option(help="servers down besides the crashed leader (repeatable) (default: 0)"),
    ] = None,
    timer: Annotated[
        str, typer.Option(help="'uniform' (Raft paper: ms range) or 'etcd' (ticks, etcd's flags)")
    ] = "uniform",
    pre_vote: Annotated[bool, typer.Option("--pre-vote/--no-pre-vote", help="PreVote")] = False,
    check_quorum: Annotated[
        bool | None,
        typer.Option(
            "--check-quorum/--no-check-quorum",
            help="CheckQuorum (default: on for --timer etcd, as etcd always runs it; off for uniform)",
            show_default=False,
        ),
    ] = None,
    trials: Annotated[
        int | None, typer.Option(help="trials per configuration (default: 1000; live: 20)")
    ] = None,
    seed: Annotated[int, typer.Option(help="base seed: same seed, same samples, whatever --jobs")] = 1,
    jobs: JobsOption = 0,
    cluster: ClusterOption = None,
    backend: Annotated[
        str, typer.Option(help="'sim' (the failover model) or 'live' (real etcd members)")
    ] = "sim",
    chunk_size: Annotated[int | None, typer.Option(help="trials per work unit (default: automatic)")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="write every sample and the summary")
    ] = None,
    plot_out: Annotated[
        Path | None, typer.Option("--plot", help="write a Plotly CDF of downtime (HTML)")
    ] = None,
    compare: Annotated[
        list[Path] | None,
        typer.Option(help="a sweep JSON (e.g. from --backend live) to show beside this run"),
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="show a progress bar")] = True,
    agents: AgentsOption = None,
    token_file: TokenFileOption = None,
    agent_ca: AgentCaOption = None,
    no_proxy: Annotated[
        bool,
        typer.Option(
            "--no-proxy",
            help="live: peers talk directly, without etcdplay's fault proxy (a crash needs none)",
        ),
    ] = False,
) -> None:
    """The leader-failover benchmark (Ongaro's dissertation, leader election).

    A steady cluster's leader crashes at a random point of its heartbeat
    interval; downtime runs until every surviving server has the new leader's
    first heartbeat.
    """
    if backend not in ("sim", "live"):
        raise SweepError(f"--backend {backend!r}: use 'sim' or 'live'")
    if agents is not None and backend != "live":
        raise SweepError("--agents: only with --backend live")
    if no_proxy and backend != "live":
        raise SweepError("--no-proxy: only with --backend live")
    try:
        remote = agent_options(agents, token_file, agent_ca)
    except BackendError as exc:
        raise SweepError(str(exc)) from None
    check_distinct([("--json", json_out), ("--plot", plot_out)], compare or [])
    if timer not in fo.TIMERS:
        raise SweepError(f"--timer {timer!r}: use one of {', '.join(fo.TIMERS)}")
    if check_quorum is None:
        check_quorum = timer == "etcd"
    n_trials = _positive("--trials", trials if trials is not None else (20 if backend == "live" else 1000))
    if chunk_size is not None:
        _positive("--chunk-size", chunk_size)
    configs = fo.build_configs(
        nodes=nodes or [5],
        election_timeouts=election_timeout_ms or (["1000"] if timer == "etcd" else ["150-300"]),
        heartbeats=heartbeat_ms or [],
        latencies=latency_ms or ["uniform(0.5,1.5)"],
        disks=disk_ms or ["fixed(1)"],
        stale_followers=stale_followers if stale_followers is not None else [0],
        failed=failed if failed is not None else [0],
        timer=timer,
        pre_vote=pre_vote,
        check_quorum=check_quorum,
    )
    if backend == "live" and any(c.stale_followers for c in configs):
        raise SweepError("--stale-followers: not possible on a live cluster (use the simulator)")
    others = _other_documents(compare or [])
    labels = fo.labels(configs)
    sweep = Sweep(
        experiment="failover",
        backend=backend,
        trial=fo.sim_trial,
        seed_fn=trial_seed,
        payloads=list(configs),
        labels=labels,
        params=[c.to_dict() for c in configs],
        trials=n_trials,
        seed=seed,
        options={
            "timer": timer,
            "pre_vote": pre_vote,
            "check_quorum": check_quorum,
            **({"agents": list(remote.addresses)} if remote is not None else {}),
            **({"proxy": False} if no_proxy else {}),
        },
    )
    json_path = str(json_out) if json_out else None
    if backend == "live":
        outcome = consume(
            sweep,
            _live_samples(sweep, configs, remote, use_proxy=not no_proxy),
            fo.FailoverAggregate,
            json_path=json_path,
            progress=progress,
            description="failover on etcd",
        )
    else:
        outcome = run_sweep(
            sweep,
            fo.FailoverAggregate,
            jobs=jobs,
            cluster=cluster,
            chunk_size=chunk_size,
            json_path=json_path,
            progress=progress,
        )
    console = Console()
    title = (
        f"leader failover, downtime in ms ({backend}, {n_trials} trials per configuration, seed {seed}); "
        "split: trials with a split vote; 1st cand: median ms to the first candidate"
    )
    console.print(output.failover_table(title, labelled(labels, outcome.aggregates)))
    _print_rate(console, outcome)
    if others:
        mine = {
            "configurations": [
                {"label": label, "summary": agg.summary()}
                for label, agg in zip(labels, outcome.aggregates, strict=True)
            ]
        }
        console.print(output.compare_table([(backend, mine), *others]))
    if plot_out:
        series: list[tuple[str, Any]] = [
            (f"{backend}: {label}" if others else label, agg.downtime)
            for label, agg in zip(labels, outcome.aggregates, strict=True)
        ]
        dashed = [False] * len(series)
        extra = plot.documents_series(others)
        fig = plot.failover_figure(
            [*series, *extra],
            dashed=[*dashed, *([True] * len(extra))],
            title=f"Leader failover: downtime ({backend})",
        )
        plot.write_html(fig, plot_out)
        console.print(f"plot: {plot_out}")
    if json_out:
        console.print(f"samples and summary: {json_out}")


def _live_samples(
    sweep: Sweep,
    configs: list[fo.FailoverConfig],
    agents: AgentOptions | None = None,
    *,
    use_proxy: bool = True,
) -> Iterator[tuple[Chunk, list[dict[str, Any]]]]:
    """Trials on a real etcd cluster, one cluster per configuration, one at a time."""
    from etcdplay.sweep import live_trials

    try:
        from etcdplay.live.backend import LiveBackend
    except ImportError:
        raise SweepError("--backend live: the live backend (etcdplay.live) is not available") from None
    for index, config in enumerate(configs):
        seeds = [sweep.seed_fn(sweep.seed, index, trial) for trial in range(sweep.trials)]
        try:
            backend = LiveBackend(agents=agents, use_proxy=use_proxy)
        except BackendError as exc:
            raise SweepError(str(exc)) from None
        for trial, sample in enumerate(live_trials.run_trials(config, seeds, backend)):
            yield Chunk(index, trial, trial + 1), [{"trial": trial, "seed": seeds[trial], **sample}]


# --- scenario -----------------------------------------------------------------------


@sweep_app.command("scenario")
@friendly
def scenario(
    name: Annotated[str, typer.Argument(help="a built-in scenario name or a TOML file")],
    sets: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="path=v1,v2,... e.g. cluster.election_timeout_ms=500,1000,2000 (repeatable: a grid)"
        ),
    ] = None,
    seeds: Annotated[int, typer.Option(help="runs per grid point, seeds --seed .. --seed+N-1")] = 20,
    seed: Annotated[int, typer.Option(help="first seed")] = 1,
    jobs: JobsOption = 0,
    cluster: ClusterOption = None,
    chunk_size: Annotated[int | None, typer.Option(help="runs per work unit (default: automatic)")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="write every run's metrics and the summary")
    ] = None,
    plot_out: Annotated[
        Path | None, typer.Option("--plot", help="write metrics against the swept parameter (HTML)")
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="show a progress bar")] = True,
    checks_only: Annotated[
        bool,
        typer.Option(
            "--checks-only",
            help="pass/fail only, on the lean path (no trace, no metrics): for safety sweeps of many seeds",
        ),
    ] = False,
) -> None:
    """Run a scenario on the simulator over a grid of --set overrides x seeds.

    Exit status 1 when any run fails a check; the failing seeds are named
    (rerun one with `etcdplay simulate SCENARIO --seed N`).
    """
    check_distinct([("--json", json_out), ("--plot", plot_out)], [Path(name)])
    if checks_only and plot_out:
        raise SweepError("--plot needs the metrics that --checks-only skips")
    _positive("--seeds", seeds)
    if chunk_size is not None:
        _positive("--chunk-size", chunk_size)
    base = load_scenario(name)
    swept, points, scenarios = expand(base, sets or [])
    labels = [point_label(p) for p in points]
    sweep = Sweep(
        experiment="scenario",
        backend="sim",
        trial=check_trial if checks_only else scenario_trial,
        seed_fn=consecutive_seed,
        payloads=[payload(s) for s in scenarios],
        labels=labels,
        params=points,
        trials=seeds,
        seed=seed,
        options={"scenario": base.name, "swept": swept, "checks_only": checks_only},
    )
    outcome = run_sweep(
        sweep,
        ScenarioAggregate,
        jobs=jobs,
        cluster=cluster,
        chunk_size=chunk_size,
        json_path=str(json_out) if json_out else None,
        progress=progress,
    )
    console = Console()
    title = f"scenario {base.name!r}: {seeds} seeds per point (from {seed})"
    console.print(output.scenario_table(title, labelled(labels, outcome.aggregates)))
    _print_rate(console, outcome, "runs")
    if plot_out:
        data = [
            (label, {key: list(agg.values[key]) for key in METRICS})
            for label, agg in zip(labels, outcome.aggregates, strict=True)
        ]
        fig = plot.scenario_figure(
            data, title=f"{base.name}: metrics across seeds", swept=", ".join(swept) or "scenario"
        )
        plot.write_html(fig, plot_out)
        console.print(f"plot: {plot_out}")
    if json_out:
        console.print(f"runs and summary: {json_out}")
    _fail_on_failed_runs(name, labels, outcome.aggregates)


#: How many failing seeds the message names per grid point.
SEEDS_NAMED = 20


def _fail_on_failed_runs(name: str, labels: list[str], aggregates: list[ScenarioAggregate]) -> None:
    """Exit 1, naming the seeds, when any run failed a check."""
    failing = [(label, agg) for label, agg in zip(labels, aggregates, strict=True) if agg.runs_failed]
    if not failing:
        return
    err = _err()
    for label, agg in failing:
        seeds = agg.failed_seeds
        shown = ", ".join(map(str, seeds[:SEEDS_NAMED])) + (
            f" and {len(seeds) - SEEDS_NAMED} more" if len(seeds) > SEEDS_NAMED else ""
        )
        where = f" at {label}" if len(labels) > 1 else ""
        checks = ", ".join(f"{c} x{n}" for c, n in agg.failed_checks.most_common())
        err.print(
            f"[bold red]failed:[/bold red] {agg.runs_failed} of {agg.runs} run(s){escape(where)} "
            f"failed their checks ({escape(checks)}); seeds: {shown}",
            highlight=False,
            soft_wrap=True,
        )
    first = failing[0][1].failed_seeds[0] if failing[0][1].failed_seeds else None
    if first is not None:
        err.print(f"rerun one: etcdplay simulate {escape(name)} --seed {first}", highlight=False)
    raise typer.Exit(1)


# --- compare ---------------------------------------------------------------------------


@sweep_app.command("compare")
@friendly
def compare_cmd(
    files: Annotated[list[Path], typer.Argument(help="failover sweep JSON files (e.g. sim and live)")],
    plot_out: Annotated[
        Path | None, typer.Option("--plot", help="write both CDFs in one figure (HTML)")
    ] = None,
) -> None:
    """Failover downtime distributions of several sweeps side by side."""
    check_distinct([("--plot", plot_out)], files)
    docs = _other_documents(files)
    for path, (_, doc) in zip(files, docs, strict=True):
        if doc.get("experiment") != "failover":
            raise SweepError(f"{path}: a {doc.get('experiment')!r} sweep; compare takes failover sweeps")
    console = Console()
    console.print(output.compare_table(docs))
    if plot_out:
        series = plot.documents_series(docs)
        sources = [source for source, doc in docs for _ in doc["configurations"]]
        first = sources[0] if sources else ""
        fig = plot.failover_figure(
            series, title="Leader failover: downtime compared", dashed=[s != first for s in sources]
        )
        plot.write_html(fig, plot_out)
        console.print(f"plot: {plot_out}")
