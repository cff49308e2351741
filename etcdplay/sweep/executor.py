"""Running trials: in process, on a local process pool, or on a Dask cluster.

Work is cut into chunks of consecutive trials of one configuration. A chunk is
a plain picklable ``Chunk`` run by ``run_chunk`` wherever it lands; each trial
gets its seed from ``seed_fn(base, config, trial)``, so a sample never depends
on the worker or the order of completion. Chunks are submitted through a
bounded window and yielded back **in submission order**: at most ``window``
chunks of samples are ever held, whatever the number of trials, and whoever
consumes the stream (tables, JSON, plots) sees trials in order.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Protocol

from etcdplay.sweep.errors import SweepError

#: A trial: (configuration payload, seed) -> a small JSON-able sample.
TrialFn = Callable[[Any, int], dict[str, Any]]
SeedFn = Callable[[int, int, int], int]
Sample = dict[str, Any]


class TrialError(RuntimeError):
    """A trial raised: names the configuration, trial and seed to rerun it."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """Trials ``start`` .. ``stop - 1`` of configuration ``config``."""

    config: int
    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start


def run_chunk(trial: TrialFn, seed_fn: SeedFn, payload: Any, base_seed: int, chunk: Chunk) -> list[Sample]:
    """Run one chunk; each sample starts with its ``trial`` index and ``seed``."""
    samples = []
    for index in range(chunk.start, chunk.stop):
        seed = seed_fn(base_seed, chunk.config, index)
        try:
            result = trial(payload, seed)
        except Exception as exc:
            raise TrialError(
                f"trial {index} of configuration {chunk.config} (seed {seed}) failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        samples.append({"trial": index, "seed": seed, **result})
    return samples


def chunks(trials_per_config: int, configs: int, chunk_size: int) -> list[Chunk]:
    """Every configuration's trials cut into chunks, configuration by configuration."""
    out = []
    for config in range(configs):
        for start in range(0, trials_per_config, chunk_size):
            out.append(Chunk(config, start, min(start + chunk_size, trials_per_config)))
    return out


def default_chunk_size(trials_per_config: int, workers: int) -> int:
    """Big enough to amortise pickling and scheduling (a failover trial is ~1 ms),
    small enough that every worker has several chunks per configuration and the
    progress bar moves."""
    if workers <= 1:
        return max(1, min(250, trials_per_config))
    return max(1, min(200, -(-trials_per_config // (4 * workers))))


def local_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class _Future(Protocol):
    def result(self) -> Any: ...


class Runner(Protocol):
    """Where chunks run; ``submit`` returns something with ``.result()``."""

    workers: int

    def submit(self, fn: Callable[..., Any], *args: Any) -> _Future: ...

    def close(self) -> None: ...


class InlineRunner:
    """Runs each chunk at once in this process: ``--jobs 1``, no pickling."""

    workers = 1

    class _Done:
        def __init__(self, value: Any) -> None:
            self._value = value

        def result(self) -> Any:
            return self._value

    def submit(self, fn: Callable[..., Any], *args: Any) -> _Future:
        return self._Done(fn(*args))

    def close(self) -> None:
        pass


class PoolRunner:
    """A local process pool. Workers are forked from a fork server, not from this
    process, so the progress bar's thread cannot leave a lock held in a child."""

    def __init__(self, jobs: int) -> None:
        self.workers = jobs
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["etcdplay.sweep.failover", "etcdplay.sweep.scenario_sweep"])
        self._pool: Executor = ProcessPoolExecutor(max_workers=jobs, mp_context=context)

    def submit(self, fn: Callable[..., Any], *args: Any) -> _Future:
        return self._pool.submit(fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskRunner:
    """An existing Dask distributed cluster, by scheduler address (``tcp://host:8786``)."""

    def __init__(self, address: str) -> None:
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover - a declared dependency
            raise SweepError("--cluster needs dask.distributed: pip install 'dask[distributed]'") from None
        _check_address(address)
        try:
            self._client = Client(address, timeout="10s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise SweepError(f"--cluster {address}: cannot reach the Dask scheduler ({exc})") from None
        self.workers = max(1, sum(self._client.nthreads().values()))

    def submit(self, fn: Callable[..., Any], *args: Any) -> _Future:
        # pure=False: two chunks with equal arguments are still two runs.
        future: _Future = self._client.submit(fn, *args, pure=False)
        return future

    def close(self) -> None:
        self._client.close()


def _check_address(address: str) -> None:
    """A malformed tcp address fails inside Client() and leaves a half-made client
    whose finaliser hangs for 20 s and prints a traceback: check it first."""
    from distributed.comm.addressing import get_address_host_port, parse_address

    try:
        scheme, _ = parse_address(address)
        if scheme in ("tcp", "tls"):
            get_address_host_port(address)
    except ValueError as exc:
        raise SweepError(
            f"--cluster {address}: not a scheduler address ({exc}); expected e.g. tcp://host:8786"
        ) from None


MAX_JOBS_PER_CORE = 4


def make_runner(jobs: int, cluster: str | None) -> Runner:
    """``--cluster`` wins; ``--jobs 0`` means every local core; 1 means in process."""
    if cluster:
        return DaskRunner(cluster)
    if jobs < 0:
        raise SweepError(f"--jobs must be >= 0 (0 = every core), got {jobs}")
    # Each worker is a process with its own simulator: more than a few per
    # core only costs memory and start-up time.
    most = MAX_JOBS_PER_CORE * local_cores()
    if jobs > most:
        raise SweepError(
            f"--jobs {jobs}: more worker processes than this machine's {local_cores()} core(s) can use "
            f"(at most {most}; 0 = one per core)"
        )
    workers = jobs or local_cores()
    return InlineRunner() if workers == 1 else PoolRunner(workers)


def stream(
    runner: Runner,
    trial: TrialFn,
    seed_fn: SeedFn,
    payloads: list[Any],
    base_seed: int,
    work: Iterable[Chunk],
    window: int | None = None,
) -> Iterator[tuple[Chunk, list[Sample]]]:
    """Run ``work`` on ``runner``; yield each chunk's samples in submission order."""
    # Several chunks per worker in flight: a slow chunk at the head of the line
    # (many split votes) does not leave the other workers idle.
    # In process a chunk runs when submitted: nothing is gained by running ahead.
    window = window or (1 if isinstance(runner, InlineRunner) else max(2, 8 * runner.workers))
    pending: deque[tuple[Chunk, _Future]] = deque()
    queue = iter(work)

    def refill() -> None:
        while len(pending) < window:
            chunk = next(queue, None)
            if chunk is None:
                return
            pending.append(
                (chunk, runner.submit(run_chunk, trial, seed_fn, payloads[chunk.config], base_seed, chunk))
            )

    refill()
    while pending:
        chunk, future = pending.popleft()
        try:
            samples = future.result()
        except BrokenProcessPool as exc:
            raise TrialError(f"a worker process died running configuration {chunk.config}: {exc}") from None
        refill()
        yield chunk, samples
