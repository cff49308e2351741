"""The put / get / delete steps of a run and what they returned, from the trace.

A ``get`` step's whole point is the value it read: the summary and the report
list these operations (the load generator's thousands of writes are drawn,
not listed)."""

from __future__ import annotations

from dataclasses import dataclass

from etcdplay.trace import Trace

#: More than this many step operations are cut (with a line saying so).
MAX_LISTED = 200


@dataclass(frozen=True)
class StepOp:
    t: float
    node: str | None
    op: str
    key: str
    value: str | None  # put: written; get: read (None: no such key, or failed)
    ok: bool
    latency: float | None
    error: str | None

    @property
    def shown_value(self) -> str:
        if self.op == "get" and self.ok and self.value is None:
            return "(no such key)"
        if self.value is None:
            return "-"
        return self.value if len(self.value) <= 60 else self.value[:57] + "..."


def step_operations(trace: Trace) -> list[StepOp]:
    ops = []
    for event in trace.events:
        if event["kind"] != "client" or event.get("source") != "step":
            continue
        value = event.get("value")
        latency = event.get("latency")
        ops.append(
            StepOp(
                t=float(event["t"]),
                node=event.get("node"),
                op=str(event.get("op")),
                key=str(event.get("key", "")),
                value=None if value is None else str(value),
                ok=bool(event.get("ok")),
                latency=float(latency) if isinstance(latency, int | float) else None,
                error=event.get("error"),
            )
        )
    return ops
