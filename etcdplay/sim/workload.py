"""The ``workload`` step in the simulator: concurrent clients on the client service.

Each client is closed loop, as in etcd's robustness traffic: it sends one
operation, waits for its answer (or its timeout), then sends the next, paced
to its share of ``rate`` when one is given. All clients share the client
service's endpoint choice (one connection that fails over when its member
goes down). A txn is a compare-and-put on one key, applied by every member's
store from the log like a put (etcdplay.sim.kv).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from etcdplay.scenario import WorkloadStep
from etcdplay.sim.client import ClientResult, ClientService
from etcdplay.sim.clock import Scheduler
from etcdplay.workload import FAILURE_BACKOFF, ClientPlan, PlannedOp

Emit = Callable[[ClientResult, dict[str, Any]], None]


class SimWorkload:
    def __init__(
        self,
        step: WorkloadStep,
        seed: int,
        clients: ClientService,
        scheduler: Scheduler,
        emit: Emit,
        on_end: Callable[[SimWorkload], None],
    ) -> None:
        self.step = step
        self._clients = clients
        self._sched = scheduler
        self._emit = emit
        self._on_end = on_end
        self.sent = self.acked = self.failed = 0
        self.running = True
        self._active = step.clients
        self._end_at = 0.0
        self._plans = [ClientPlan(step, c, seed) for c in range(step.clients)]

    def start(self) -> None:
        self._end_at = self._sched.now() + self.step.duration
        for plan in self._plans:
            self._sched.call_later(0.0, self._next, plan)

    def _next(self, plan: ClientPlan) -> None:
        if self._sched.now() >= self._end_at - 1e-12:
            self._active -= 1
            if self._active == 0:
                self.running = False
                self._on_end(self)
            return
        op = plan.next()
        self.sent += 1
        serializable = op.op == "get" and self.step.reads == "serializable"
        self._clients.submit(
            op.op,
            op.key,
            op.value or "",
            done=lambda result: self._done(plan, op, serializable, result),
            source="workload",
            endpoint=self.step.node,
            serializable=serializable,
            expect=op.expect,
        )

    def _done(self, plan: ClientPlan, op: PlannedOp, serializable: bool, result: ClientResult) -> None:
        extra: dict[str, Any] = {"client": plan.client}
        if serializable:
            extra["serializable"] = True
        if op.op == "txn":  # as live records it: the value it would put, the compare, the outcome
            extra["value"] = op.value
            extra["expect"] = op.expect
            if result.ok:
                extra["succeeded"] = result.value is True
        if result.ok:
            self.acked += 1
            if op.op == "get":
                plan.observed(op.key, result.value if isinstance(result.value, str) else None)
        else:
            self.failed += 1
        self._emit(result, extra)
        wait = plan.pause() if result.ok else max(plan.pause(), FAILURE_BACKOFF)
        self._sched.call_later(wait, self._next, plan)
