"""The simulator's opt-in message trace level: what each peer message and
election timer looks like as a trace event.

Off by default (a write costs ~18 peer messages, and a trace of them is ten
times larger); on with ``SimBackend(trace_messages=True)``,
``etcdplay simulate --messages`` and in every interactive session, where the
web page animates them. docs/trace-format.md describes the events.
"""

from __future__ import annotations

from typing import Any

from etcdplay.sim.client import ForwardedProposal, ReadReply, ReadRequest
from etcdplay.sim.raft import AppendRequest, AppendResponse, TimeoutNow, VoteRequest, VoteResponse


def message_fields(message: Any) -> dict[str, Any]:
    """``type`` (a short name; etcd's own in docs/trace-format.md), ``term``
    and what a learner wants to see of the message."""
    if isinstance(message, AppendRequest):
        fields: dict[str, Any] = {
            "type": "append" if message.entries else "heartbeat",
            "term": message.term,
            "prev_index": message.prev_index,
            "prev_term": message.prev_term,
            "commit": message.commit,
        }
        if message.entries:
            fields["entries"] = len(message.entries)
        return fields
    if isinstance(message, AppendResponse):
        fields = {"type": "append-resp", "term": message.term, "success": message.success}
        fields["index" if message.success else "reject_hint"] = (
            message.match_index if message.success else message.hint_index
        )
        return fields
    if isinstance(message, VoteRequest):
        return {
            "type": "pre-vote" if message.pre_vote else "vote",
            "term": message.term,
            "last_index": message.last_index,
            "last_term": message.last_term,
        }
    if isinstance(message, VoteResponse):
        return {
            "type": "pre-vote-resp" if message.pre_vote else "vote-resp",
            "term": message.term,
            "granted": message.granted,
        }
    if isinstance(message, TimeoutNow):
        return {"type": "timeout-now", "term": message.term}
    if isinstance(message, ForwardedProposal):
        return {"type": "proposal", "key": message.command.key}
    if isinstance(message, ReadRequest):
        return {"type": "read-index", "key": message.key}
    if isinstance(message, ReadReply):
        return {"type": "read-reply"}
    return {"type": type(message).__name__}


def log_fields(log: Any, last: int = 40) -> dict[str, Any]:
    """A node's log for a status event: the terms of its last ``last``
    entries, run-length coded as [[term, count], ...] from index ``log_from``."""
    first = max(1, len(log) - last + 1)
    runs: list[list[int]] = []
    for entry in log[first - 1 :]:
        if runs and runs[-1][0] == entry.term:
            runs[-1][1] += 1
        else:
            runs.append([entry.term, 1])
    return {"log_from": first, "log_terms": runs, "last_index": len(log)}
