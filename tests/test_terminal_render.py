"""The terminal's pure drawing functions and the sparkline series, without a screen."""

from __future__ import annotations

from etcdplay.play.view import ClusterView
from etcdplay.terminal import render
from etcdplay.terminal.series import WriteSeries

HEADER = {"t": 0.0, "kind": "header", "nodes": ["n1", "n2", "n3"]}


def status(
    t: float, node: str, role: str, hash_: str, applied: int = 5, **extra: object
) -> dict[str, object]:
    return {
        "t": t,
        "kind": "status",
        "node": node,
        "running": role != "down",
        "role": role,
        "term": 2,
        "leader": "n1",
        "commit": applied,
        "applied": applied,
        "keys": 3,
        "hash": hash_,
        **extra,
    }


def test_cluster_line_says_leader_quorum_hashes_and_split() -> None:
    view = ClusterView.of(
        [
            HEADER,
            status(1.0, "n1", "leader", "aa"),
            status(1.0, "n2", "follower", "aa"),
            status(1.0, "n3", "follower", "bb"),
            {"t": 1.5, "kind": "fault", "action": "partition", "groups": [["n1", "n2"], ["n3"]]},
        ]
    )
    line = render.cluster_line(view).plain
    assert line.startswith("leader n1  term 2  quorum ok  hashes DIFFER")
    assert "split n1 n2 | n3" in line
    assert render.group_labels(view) == {"n1": "A", "n2": "A", "n3": "B"}
    assert render.member_title(view.nodes["n3"], True, "B") == "> n3 (B)"


def test_member_body_in_words_with_db_size_on_live() -> None:
    view = ClusterView.of([HEADER, status(1.0, "n1", "leader", "0123456789abcdef", db_size=20 * 1024 + 512)])
    body = render.member_body(view.nodes["n1"], live=True).plain.splitlines()
    assert body == ["LEADER", "term 2", "lead n1", "c/a 5/5", "keys 3", "#01234567", "db 20.5K"]
    down = ClusterView.of([HEADER, status(1.0, "n2", "down", "")]).nodes["n2"]
    assert render.member_body(down, live=False).plain.splitlines()[0] == "down"


def test_event_lines_skip_the_noise() -> None:
    assert render.event_line({"t": 1.0, "kind": "status", "node": "n1"}) is None
    assert render.event_line({"t": 1.0, "kind": "client", "op": "put", "ok": True, "source": "load"}) is None
    assert render.event_line({"t": 1.0, "kind": "vote", "node": "n2", "granted": False}) is None
    get = render.event_line(
        {"t": 2.5, "kind": "client", "op": "get", "key": "k", "value": "v", "ok": True, "latency": 0.002}
    )
    assert get is not None and get.plain == "   2.500 get k = 'v' 2.0 ms"
    role = render.event_line({"t": 3.0, "kind": "role", "node": "n2", "role": "leader", "term": 4})
    assert role is not None and role.plain.endswith("n2 -> leader (term 4)")


def test_series_counts_acked_puts_per_second() -> None:
    series = WriteSeries(span=5)
    for i in range(30):
        series.apply({"t": 10 + i / 20, "kind": "client", "op": "put", "ok": True, "latency": 0.004})
    series.apply({"t": 11.5, "kind": "client", "op": "put", "ok": False, "latency": 1.0})
    series.apply({"t": 12.2, "kind": "status"})
    assert series.throughput() == [0.0, 0.0, 20.0, 10.0, 0.0]
    assert round(series.latency_ms()[2], 9) == 4.0
    rate, latency = series.last_complete()
    assert (rate, round(latency, 9)) == (10.0, 4.0)


def test_lesson_prose_is_reflowed_and_only_titles_are_bold() -> None:
    explain = (
        "Raft keeps one leader per term. Followers learn\nthe leader is alive.\n\nWatch for:\nthe gap.\n"
    )
    text = render.lesson_text("leader-failure", explain, [{"at": 0.0, "action": "crash", "done": True}])
    assert (
        "Raft keeps one leader per term. Followers learn the leader is alive.\n\nWatch for: the gap."
        in text.plain
    )
    raft = text.plain.index("Raft")
    assert text.style == "" and not [
        s for s in text.spans if s.start <= raft < s.end and "bold" in str(s.style)
    ]
    assert render.help_text([("k", "kill")]).style == ""  # the whole page was bold


def test_keys_line_breaks_between_pairs_only() -> None:
    keys = [("?", "help"), ("k", "kill"), ("partition-key", "partition"), ("q", "quit")]
    text = render.keys_line(keys, 20)
    assert text.plain.split("\n") == ["? help k kill", "partition-key partition", "q quit"]
    assert render.keys_line(keys, 200).plain == "? help k kill partition-key partition q quit"
