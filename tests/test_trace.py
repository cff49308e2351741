"""The trace writer and reader."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from etcdplay.trace import TraceError, TraceWriter, read_trace


def test_write_read_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    seen: list[dict] = []
    with open(path, "w") as sink:
        writer = TraceWriter({"backend": "sim", "seed": 3, "nodes": ["n1"]}, sink)
        unsubscribe = writer.subscribe(seen.append)
        writer.emit(0.1234567, "role", "n1", role="leader", term=2)
        unsubscribe()
        writer.emit(0.2, "note", text="after")
    trace = read_trace(path)
    assert trace.backend == "sim" and trace.seed == 3 and trace.nodes == ["n1"]
    assert trace.events[0] == {"t": 0.123457, "kind": "role", "node": "n1", "role": "leader", "term": 2}
    assert [e["kind"] for e in seen] == ["role"]
    first = path.read_text().splitlines()[0]
    assert json.loads(first)["schema"] == 1


def test_end_is_the_last_line_even_with_late_emitters() -> None:
    # the live backend's status poller runs on a thread until the backend
    # closes: a status it emits after "end" must not follow "end" in the file
    sink = io.StringIO()
    writer = TraceWriter({}, sink)
    seen: list[dict] = []
    writer.subscribe(seen.append)
    writer.emit(1.0, "end", duration=1.0, ok=True)
    writer.emit(1.1, "status", "n1", term=2)
    lines = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert [e["kind"] for e in lines] == ["header", "end"]
    assert [e["kind"] for e in writer.events] == ["header", "end"] and [e["kind"] for e in seen] == ["end"]


def test_unknown_kind_is_refused() -> None:
    writer = TraceWriter({}, io.StringIO())
    with pytest.raises(ValueError, match="unknown trace event kind"):
        writer.emit(0, "bogus")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty file"),
        ("not json\n", ":1: not JSON"),
        ('{"t":0,"kind":"role"}\n', "first line of a trace must be its header"),
        ('{"t":0,"kind":"header","schema":99}\n', "schema 99 is not supported"),
        ('{"t":0,"kind":"header","schema":1}\n[1]\n', ":2: not a trace event"),
    ],
)
def test_bad_traces_name_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(TraceError, match=message):
        read_trace(path)


def test_missing_trace(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="no such trace file"):
        read_trace(tmp_path / "none.jsonl")


def test_keep_kinds_keeps_only_those_kinds_and_still_tells_subscribers() -> None:
    writer = TraceWriter({"scenario": "x"}, keep_kinds=frozenset({"role", "end"}))
    told: list[str] = []
    writer.subscribe(lambda e: told.append(str(e["kind"])))
    writer.emit(0.1, "note", text="not kept")
    writer.emit(0.2, "role", "n1", role="leader", term=1)
    writer.emit(0.3, "end", duration=0.3, ok=True)
    assert [e["kind"] for e in writer.events] == ["role", "end"]
    assert told == ["note", "role", "end"]
