"""Sweep results as JSON (streamed) and as rich tables.

The JSON document (schema ``etcdplay-sweep/1``, docs/sweep.md) is the same for
the simulator and a live cluster, and for the failover benchmark and scenario
sweeps::

    {"schema": "etcdplay-sweep/1", "experiment": "failover", "backend": "sim",
     "seed": 1, "trials": 1000, "etcdplay": "0.1.0", "options": {...},
     "configurations": [
        {"index": 0, "label": "150-300 ms", "params": {...},
         "samples": [{"trial": 0, "seed": ..., "downtime_ms": ..., ...}, ...],
         "summary": {...}},
        ...]}

It is written while trials run, one sample per line, configuration after
configuration, so writing it needs no more memory than one chunk of samples.
It holds no wall-clock figures: the same seed gives the same bytes whatever
``--jobs``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from rich import box
from rich.table import Table

from etcdplay.files import AtomicFile, OutputError
from etcdplay.sweep.errors import SweepError

SCHEMA = "etcdplay-sweep/1"


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class JsonStream:
    """Writes a sweep document piece by piece; ``close`` finishes it."""

    def __init__(self, path: str | Path, meta: dict[str, Any]) -> None:
        self.path = Path(path)
        # Written under a temporary name, renamed by close(): an interrupted sweep
        # leaves neither half a document nor a hole where an earlier result was.
        try:
            self._file = AtomicFile(self.path, "--json")
        except OutputError as exc:
            raise SweepError(str(exc)) from None
        self._out: IO[str] = self._file.handle
        head = _dump({"schema": SCHEMA, **meta})
        self._out.write(head[:-1] + ',\n"configurations":[')
        self._configs = 0
        self._samples = 0

    def begin(self, index: int, label: str, params: dict[str, Any]) -> None:
        prefix = ",\n" if self._configs else "\n"
        self._out.write(
            f'{prefix}{{"index":{index},"label":{_dump(label)},"params":{_dump(params)},"samples":['
        )
        self._configs += 1
        self._samples = 0

    def sample(self, sample: dict[str, Any]) -> None:
        self._out.write(("," if self._samples else "") + "\n" + _dump(sample))
        self._samples += 1

    def end(self, summary: dict[str, Any]) -> None:
        self._out.write(f'\n],"summary":{_dump(summary)}}}')

    def close(self) -> None:
        self._out.write("\n]}\n")
        try:
            self._file.commit()
        except (OSError, OutputError) as exc:
            raise SweepError(f"--json {self.path}: cannot write ({exc})") from None

    def abort(self) -> None:
        """Interrupted: drop the half-written file (an earlier file of that name stays)."""
        self._file.discard()


def load(path: str | Path) -> dict[str, Any]:
    """A sweep document, checked enough to be plotted and compared."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise SweepError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SweepError(f"{path}: not a sweep JSON file ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise SweepError(f"{path}: not a sweep result (expected schema {SCHEMA!r})")
    if not isinstance(data.get("configurations"), list):
        raise SweepError(f"{path}: sweep result without configurations")
    for index, config in enumerate(data["configurations"]):
        problem = _config_problem(config, data.get("experiment"))
        if problem:
            raise SweepError(f"{path}: configurations[{index}]: {problem}")
    return data


def _config_problem(config: Any, experiment: Any) -> str | None:
    """What is wrong with one configuration of a sweep document (None: nothing)."""
    if not isinstance(config, dict):
        return "not an object"
    if not isinstance(config.get("label"), str):
        return "no 'label' string"
    if not isinstance(config.get("samples"), list) or not all(isinstance(s, dict) for s in config["samples"]):
        return "no 'samples' list of objects"
    summary = config.get("summary")
    if not isinstance(summary, dict):
        return "no 'summary' object"
    if experiment == "failover":
        downtime = summary.get("downtime_ms")
        if not isinstance(summary.get("trials"), int) or not isinstance(downtime, dict):
            return "summary without 'trials' and 'downtime_ms'"
        for key in ("mean", "p50", "p90", "p99", "max"):
            if not isinstance(downtime.get(key), int | float | None):
                return f"summary.downtime_ms.{key} is not a number"
    return None


# --- tables ---------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    """Milliseconds: one decimal below 100 ms, whole numbers above (fits 80 columns)."""
    if value is None:
        return "-"
    return f"{value:.1f}" if abs(value) < 100 else f"{value:.0f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def failover_table(title: str, rows: Sequence[tuple[str, dict[str, Any]]]) -> Table:
    """One row per configuration: downtime statistics (ms), split-vote rate and
    the median time to the first candidate. Rounds and messages are in the JSON."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 0))
    # Numbers never wrap; a long configuration label does.
    table.add_column("configuration", style="bold", overflow="fold")
    table.add_column("trials", justify="right", no_wrap=True, width=6)
    for name in ("mean", "p50", "p90", "p99", "p99.9", "max"):
        table.add_column(name, justify="right", no_wrap=True, width=5)
    table.add_column("split", justify="right", no_wrap=True, width=6)
    table.add_column("1st\ncand", justify="right", no_wrap=True, width=5)
    for label, summary in rows:
        d = summary["downtime_ms"]
        if summary.get("unresolved"):
            label += f" [red]({summary['unresolved']} without a leader)[/red]"
        table.add_row(
            label,
            str(summary["trials"]),
            *(_ms(d[key]) for key in ("mean", "p50", "p90", "p99", "p99_9", "max")),
            _pct(summary.get("split_vote_rate")),
            _ms(summary["first_candidate_ms"]["p50"]),
        )
    return table


def compare_table(documents: Sequence[tuple[str, dict[str, Any]]]) -> Table:
    """Failover downtime of several sweep files side by side, configuration by label."""
    table = Table(
        title="failover downtime (ms): side by side",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("configuration", style="bold")
    table.add_column("source")
    for name in ("trials", "mean", "p50", "p90", "p99", "max", "split votes"):
        table.add_column(name, justify="right")
    labels: list[str] = []
    for _, doc in documents:
        for config in doc["configurations"]:
            if config["label"] not in labels:
                labels.append(config["label"])
    for label in labels:
        for source, doc in documents:
            for config in doc["configurations"]:
                if config["label"] != label:
                    continue
                summary = config["summary"]
                d = summary["downtime_ms"]
                table.add_row(
                    label,
                    source,
                    str(summary["trials"]),
                    _ms(d["mean"]),
                    _ms(d["p50"]),
                    _ms(d["p90"]),
                    _ms(d["p99"]),
                    _ms(d["max"]),
                    _pct(summary.get("split_vote_rate")),
                )
        table.add_section()
    return table


#: Scenario-sweep metrics: (key, column title, format).
SCENARIO_METRICS: tuple[tuple[str, str, str], ...] = (
    ("leader_changes", "leader\nchanges", "{:.2f}"),
    ("unavailable_s", "unavail\ns", "{:.3f}"),
    ("election_ms", "election\nms", "{:.0f}"),
    ("first_leader_ms", "first\nleader ms", "{:.0f}"),
    ("writes_acked", "writes\nacked", "{:.1f}"),
    ("writes_failed", "writes\nfailed", "{:.1f}"),
    ("check_failures", "check\nfailures", "{:.2f}"),
)


#: The metrics the table shows (all of them are in the JSON and the plot).
TABLE_METRICS = ("leader_changes", "unavailable_s", "election_ms", "writes_acked", "check_failures")


def scenario_table(title: str, rows: Sequence[tuple[str, dict[str, Any]]]) -> Table:
    """One row per grid point: each metric's mean across seeds (percentiles are in
    the JSON summary, the spread in the plot)."""
    table = Table(
        title=title,
        title_justify="left",
        caption="mean across seeds; p50/p90/p99 in --json, spread in --plot",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 0),
    )
    shown = [m for m in SCENARIO_METRICS if m[0] in TABLE_METRICS]
    table.add_column("point", style="bold", overflow="fold", min_width=16)
    table.add_column("runs", justify="right", no_wrap=True, width=5)
    for _, heading, _ in shown:
        table.add_column(heading, justify="right", no_wrap=True, width=8)
    table.add_column("failed\nruns", justify="right", no_wrap=True, width=6)
    for label, summary in rows:
        cells = []
        for key, _, fmt in shown:
            mean = summary["metrics"][key]["mean"]
            cells.append("-" if mean is None else fmt.format(mean))
        failed = summary["runs_failed"]
        cells.append(f"[red]{failed}[/red]" if failed else "0")
        table.add_row(label, str(summary["runs"]), *cells)
    return table
