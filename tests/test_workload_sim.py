"""The ``workload`` step on the simulator, and the linearizability check on
its histories: clean runs pass, planted key-value bugs are caught."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from etcdplay import native
from etcdplay.report.html import write_report
from etcdplay.runner import RunResult, make_header, run_scenario
from etcdplay.scenario import ScenarioError, from_dict, load_builtin
from etcdplay.sim.backend import SimBackend
from etcdplay.sim.kv import KVStore
from etcdplay.sim.raft import Command, Entry
from etcdplay.summary import print_summary
from etcdplay.trace import TraceWriter


def scenario(**workload: Any) -> dict[str, Any]:
    step = {"at": 1.0, "action": "workload", "clients": 4, "duration": 3.0, "keys": 3, **workload}
    return {
        "name": "wl",
        "settle": 2.0,
        "cluster": {"size": 3},
        "steps": [{"at": 0.0, "action": "wait-for-leader"}, step],
    }


def run(data: dict[str, Any], seed: int = 1) -> RunResult:
    sc = from_dict(data).expanded(seed)
    return run_scenario(sc, SimBackend(), seed, TraceWriter(make_header(sc, seed, "sim")))


def check(result: RunResult, name: str) -> Any:
    return next(c for c in result.checks if c.name == name)


def test_workload_records_every_operation_with_its_window() -> None:
    result = run(scenario())
    ops = [e for e in result.trace.events if e["kind"] == "client" and e.get("source") == "workload"]
    assert len(ops) > 500
    assert {e["op"] for e in ops} == {"put", "get", "delete"}
    assert all(e["invoked"] <= e["t"] for e in ops)
    assert {e["client"] for e in ops} == {0, 1, 2, 3}
    ends = [e for e in result.trace.events if e["kind"] == "workload" and e["phase"] == "end"]
    assert ends and ends[0]["sent"] == len(ops)
    lin = check(result, "linearizable")
    assert lin.ok and not lin.skipped, lin.detail
    assert result.ok


def test_rate_paces_the_clients() -> None:
    result = run(scenario(rate=100.0))
    ops = [e for e in result.trace.events if e["kind"] == "client" and e.get("source") == "workload"]
    assert 250 <= len(ops) <= 310  # 100/s for 3 s


def test_serializable_reads_are_marked_and_not_held_to_linearizability() -> None:
    result = run(scenario(reads="serializable", mix={"put": 1, "get": 1}))
    reads = [e for e in result.trace.events if e["kind"] == "client" and e["op"] == "get"]
    assert reads and all(e.get("serializable") for e in reads)
    assert check(result, "linearizable").ok


def test_txn_is_a_compare_and_put_recorded_as_live_records_it() -> None:
    result = run(scenario(mix={"put": 2, "get": 2, "txn": 3}))
    txns = [e for e in result.trace.events if e["kind"] == "client" and e["op"] == "txn"]
    assert len(txns) > 100
    assert all("expect" in e and e["value"] for e in txns)
    done = [e for e in txns if e["ok"]]
    # both outcomes happen: a compare on the value last read holds until
    # another client writes the key
    assert {e["succeeded"] for e in done} == {True, False}
    # a txn whose compare held wrote its value: a later read can see it
    written = {e["value"] for e in done if e["succeeded"]}
    read = {e.get("value") for e in result.trace.events if e["kind"] == "client" and e["op"] == "get"}
    assert written & read
    lin = check(result, "linearizable")
    assert lin.ok and not lin.skipped, lin.detail
    assert result.ok, [c for c in result.checks if not c.ok]


def test_store_applies_a_txn_only_when_its_compare_holds() -> None:
    store = KVStore()
    assert store.apply(Entry(1, 1, Command("txn", "k", "a", 1, expect=None)))  # absent: holds
    assert store.compare_held and store.get("k") == "a" and store.revision == 1
    assert not store.apply(Entry(1, 2, Command("txn", "k", "b", 2, expect="x")))
    assert not store.compare_held and store.get("k") == "a" and store.revision == 1
    assert store.apply(Entry(1, 3, Command("txn", "k", "c", 3, expect="a")))
    assert store.get("k") == "c" and store.revision == 2


def test_bad_mix_is_a_clear_error() -> None:
    with pytest.raises(ScenarioError, match="mix"):
        from_dict(scenario(mix={"put": 0}))
    with pytest.raises(ScenarioError):
        from_dict(scenario(mix={"scan": 1}))


def test_kill_under_load_is_built_in_and_passes_on_the_simulator() -> None:
    data = load_builtin("kill-under-load").to_dict()
    assert any(s["action"] == "workload" for s in data["steps"])
    # its first ten seconds: four kills under the full traffic
    data["steps"] = [s for s in data["steps"] if s["at"] < 10]
    for s in data["steps"]:
        if s["action"] == "workload":
            s["duration"] = 9.5
    result = run(data, seed=3)
    assert result.ok, [c for c in result.checks if not c.ok]


# --- planted bugs: the check must catch them --------------------------------------------

needs_source = pytest.mark.skipif(native.COMPILED_CORE, reason="planting a bug needs the Python core")


@needs_source
def test_a_put_to_an_existing_key_ignored_is_caught(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    original = KVStore.apply

    def buggy(self: KVStore, entry: Any) -> bool:
        cmd = entry.command
        if cmd is not None and cmd.op == "put" and self.get(cmd.key) is not None:
            if entry.index > self.applied_index:
                self.applied_index = entry.index
            return False
        return original(self, entry)

    monkeypatch.setattr(KVStore, "apply", buggy)
    result = run(scenario())
    lin = check(result, "linearizable")
    assert not lin.ok
    assert "not linearizable" in lin.detail
    assert 1 <= len(lin.operations) <= 6  # shrunk to the few that conflict
    # shown in the summary and in the report
    console = Console(record=True, width=200)
    print_summary(result.trace, console)
    text = console.export_text()
    assert "admit no legal order" in text and lin.operations[0] in text
    page = tmp_path / "report.html"
    write_report(result.trace, page)
    assert "admit no legal order" in page.read_text()


@needs_source
def test_a_delete_doing_nothing_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    original = KVStore.apply

    def buggy(self: KVStore, entry: Any) -> bool:
        cmd = entry.command
        if cmd is not None and cmd.op == "delete":
            if entry.index > self.applied_index:
                self.applied_index = entry.index
            return False
        return original(self, entry)

    monkeypatch.setattr(KVStore, "apply", buggy)
    result = run(scenario())
    assert not check(result, "linearizable").ok


@needs_source
def test_a_txn_that_ignores_its_compare_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    original = KVStore.apply

    def buggy(self: KVStore, entry: Any) -> bool:
        cmd = entry.command
        if cmd is not None and cmd.op == "txn" and cmd.expect != self.get(cmd.key):
            cmd.expect = self.get(cmd.key)  # the compare always holds
        return original(self, entry)

    monkeypatch.setattr(KVStore, "apply", buggy)
    result = run(scenario(mix={"put": 2, "get": 2, "txn": 3}))
    assert not check(result, "linearizable").ok
