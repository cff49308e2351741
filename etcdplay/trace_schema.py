"""The types of trace fields (docs/trace-format.md), checked when a trace is read.

Reports, comparison and --replay compute with these fields; a hand-edited or
corrupt trace with ``"term": "abc"`` or ``"nodes": 5`` must be refused with the
line and the field, not crash a reader deep inside. Readers keep the raw
events: the models only check. Strict types: a number is never a string or a
boolean, NaN and infinity are refused. Unknown fields and unknown kinds pass
(the format lets backends add detail).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, StrictBool, StrictInt, StrictStr, ValidationError
from pydantic import Field as _Field

# strict float takes ints too, never a bool or a string
Number = float
Names = list[StrictStr]


class _Event(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)

    t: Number = _Field(ge=0)
    kind: StrictStr
    node: StrictStr | None = None


class Header(_Event):
    schema_: StrictInt = _Field(alias="schema")
    backend: StrictStr = "?"
    seed: StrictInt | None = None
    nodes: Names = []
    scenario: dict[str, Any] | None = None


class Step(_Event):
    index: StrictInt | None = None
    action: StrictStr | None = None
    nodes: Names = []
    note: StrictStr | None = None
    skipped: StrictStr | None = None
    late: Number | None = None


class Role(_Event):
    role: StrictStr | None = None
    term: StrictInt | None = None


class Vote(_Event):
    candidate: StrictStr | None = None
    term: StrictInt | None = None
    granted: StrictBool | None = None
    pre_vote: StrictBool | None = None


class Leader(_Event):
    leader: StrictStr | None = None
    term: StrictInt | None = None


class Commit(_Event):
    commit: StrictInt | None = None


class Fault(_Event):
    action: StrictStr
    nodes: Names = []
    groups: list[Names] | None = None
    latency_ms: StrictStr | Number | None = None


class Client(_Event):
    op: StrictStr
    key: StrictStr | None = None
    ok: StrictBool
    latency: Number | None = _Field(default=None, ge=0)
    error: StrictStr | None = None
    source: StrictStr | None = None


class Load(_Event):
    phase: StrictStr | None = None
    rate: Number | None = None
    duration: Number | None = None
    prefix: StrictStr | None = None
    sent: StrictInt | None = None
    acked: StrictInt | None = None
    failed: StrictInt | None = None


class Status(_Event):
    running: StrictBool | None = None
    role: StrictStr | None = None
    term: StrictInt | None = None
    leader: StrictStr | None = None
    commit: StrictInt | None = None
    applied: StrictInt | None = None
    revision: StrictInt | None = None
    keys: StrictInt | None = None
    hash: StrictStr | None = None


class Check(_Event):
    name: StrictStr
    ok: StrictBool
    detail: StrictStr | None = None
    nodes: Names = []
    at: Number | None = None
    skipped: StrictBool | None = None


class Message(_Event):
    to: StrictStr | None = None
    type: StrictStr | None = None
    term: StrictInt | None = None
    arrive: Number | None = None


class Timer(_Event):
    deadline: Number | None = None
    timeout: Number | None = None


class Note(_Event):
    text: StrictStr | None = None


class End(_Event):
    duration: Number | None = None
    ok: StrictBool | None = None


MODELS: dict[str, type[_Event]] = {
    "header": Header,
    "step": Step,
    "role": Role,
    "vote": Vote,
    "leader": Leader,
    "commit": Commit,
    "fault": Fault,
    "client": Client,
    "load": Load,
    "status": Status,
    "check": Check,
    "message": Message,
    "timer": Timer,
    "note": Note,
    "end": End,
}


def problem(event: dict[str, Any]) -> str | None:
    """None for a well-typed event, else one line naming the field and the trouble."""
    kind = event.get("kind")
    model = MODELS.get(kind, _Event) if isinstance(kind, str) else _Event
    try:
        model.__pydantic_validator__.validate_python(event)
    except ValidationError as exc:
        err = exc.errors()[0]
        # pydantic names union members in the location ('str', 'list[str]'): drop them
        names = [str(p) for p in err["loc"] if isinstance(p, int) or p in event or p in model.model_fields]
        field = ".".join(names) or "event"
        got = err.get("input")
        shown = repr(got) if len(repr(got)) <= 40 else repr(got)[:37] + "..."
        kind = event.get("kind")
        what = f"{kind} event" if isinstance(kind, str) else "event"
        return f"{what}, field {field!r}: {err['msg'].removeprefix('Value error, ')} (got {shown})"
    return None
