"""Drive a sweep: stream chunks of trials from a runner into aggregates, the JSON
file and the progress bar."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from etcdplay import __version__
from etcdplay.sweep.executor import (
    Chunk,
    SeedFn,
    TrialFn,
    chunks,
    default_chunk_size,
    make_runner,
    stream,
)
from etcdplay.sweep.output import JsonStream


class Aggregate(Protocol):
    def add(self, sample: dict[str, Any]) -> None: ...

    def summary(self) -> dict[str, Any]: ...


@dataclass
class Sweep:
    """What to run: one payload per configuration, ``trials`` trials each."""

    experiment: str  # "failover" | "scenario"
    backend: str  # "sim" | "live"
    trial: TrialFn
    seed_fn: SeedFn
    payloads: list[Any]
    labels: list[str]
    params: list[dict[str, Any]]
    trials: int
    seed: int
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    aggregates: list[Any]
    elapsed: float
    trials: int

    @property
    def rate(self) -> float:
        return self.trials / self.elapsed if self.elapsed > 0 else 0.0


def run_sweep(
    sweep: Sweep,
    make_aggregate: Callable[[], Aggregate],
    *,
    jobs: int = 0,
    cluster: str | None = None,
    chunk_size: int | None = None,
    json_path: str | None = None,
    progress: bool = True,
    console: Console | None = None,
) -> Outcome:
    """Run every trial of ``sweep``; samples go to the aggregates and, when asked,
    to the JSON file, in trial order, then are dropped."""
    runner = make_runner(jobs, cluster)
    try:
        size = chunk_size or default_chunk_size(sweep.trials, runner.workers)
        work = chunks(sweep.trials, len(sweep.payloads), size)
        samples = stream(runner, sweep.trial, sweep.seed_fn, sweep.payloads, sweep.seed, work)
        return consume(
            sweep,
            samples,
            make_aggregate,
            json_path=json_path,
            progress=progress,
            console=console,
            description=f"{sweep.experiment} ({runner.workers} worker(s))",
        )
    finally:
        runner.close()


def consume(
    sweep: Sweep,
    samples: Iterable[tuple[Chunk, list[dict[str, Any]]]],
    make_aggregate: Callable[[], Aggregate],
    *,
    json_path: str | None = None,
    progress: bool = True,
    console: Console | None = None,
    description: str = "",
) -> Outcome:
    """Fold chunks of samples (in configuration and trial order) into aggregates,
    the JSON file and the progress bar."""
    configs = len(sweep.payloads)
    aggregates = [make_aggregate() for _ in range(configs)]
    out = None
    if json_path:
        out = JsonStream(
            json_path,
            {
                "experiment": sweep.experiment,
                "backend": sweep.backend,
                "seed": sweep.seed,
                "trials": sweep.trials,
                "etcdplay": __version__,
                "options": sweep.options,
            },
        )
    total = sweep.trials * configs
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("trials"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
        disable=not progress,
        transient=False,
    )
    started = time.perf_counter()
    current = -1
    finished = False
    try:
        with bar:
            task = bar.add_task(description or sweep.experiment, total=total)
            for chunk, chunk_samples in samples:
                if chunk.config != current:
                    if out is not None and current >= 0:
                        out.end(aggregates[current].summary())
                    current = chunk.config
                    if out is not None:
                        out.begin(current, sweep.labels[current], sweep.params[current])
                aggregate = aggregates[chunk.config]
                for sample in chunk_samples:
                    aggregate.add(sample)
                    if out is not None:
                        out.sample(sample)
                bar.advance(task, len(chunk_samples))
        if out is not None:
            if current >= 0:
                out.end(aggregates[current].summary())
            out.close()
        finished = True
    finally:
        if out is not None and not finished:
            out.abort()
    return Outcome(aggregates, time.perf_counter() - started, total)


def labelled(labels: Sequence[str], aggregates: Sequence[Aggregate]) -> list[tuple[str, dict[str, Any]]]:
    return [(label, agg.summary()) for label, agg in zip(labels, aggregates, strict=True)]
