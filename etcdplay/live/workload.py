"""The ``workload`` step on real etcd: concurrent closed-loop clients.

Each client does one operation at a time (paced to its share of ``rate``
when one is given), talks to its own member (client ``c`` to member
``c mod N``, so the load is spread as etcd's clients spread it over their
endpoints) and moves to the next running member after a failure.

One driver thread starts every operation asynchronously on the gRPC stubs
(``MemberClient.wl_start``); the answer's callback records it and hands the
client back to the driver. No thread per client: with Python's GIL, dozens of
threads each making blocking calls spend more time switching than calling
(measured: benchmarks/bench_workload_live.py).

Every operation becomes a ``client`` event with ``invoked`` taken before the
request leaves and the event time after the answer came back, so the window
recorded always contains the real one (the linearizability check relies on
that).
"""

from __future__ import annotations

import heapq
import threading
import time
from typing import TYPE_CHECKING, Any

from etcdplay.backend import OpResult
from etcdplay.scenario import WorkloadStep
from etcdplay.workload import FAILURE_BACKOFF, ClientPlan, PlannedOp, start_fields

if TYPE_CHECKING:
    from etcdplay.live.backend import LiveBackend


class LiveWorkload:
    def __init__(self, backend: LiveBackend, step: WorkloadStep, seed: int) -> None:
        self.backend = backend
        self.step = step
        self.seed = seed
        self.sent = self.acked = self.failed = 0
        self._cond = threading.Condition()
        self._ready: list[tuple[float, int]] = []  # (when, client) heap
        self._outstanding = 0
        self._plans: list[ClientPlan] = []
        self._preferred: list[int] = []
        self.thread = threading.Thread(target=self._run, name="etcdplay-workload", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        backend, step = self.backend, self.step
        assert backend.trace is not None
        backend.trace.emit_fields(backend.now(), "workload", None, start_fields(step))
        self._plans = [ClientPlan(step, c, self.seed) for c in range(step.clients)]
        self._preferred = list(range(step.clients))
        now = time.monotonic()
        end_at = now + step.duration
        self._ready = [(now, c) for c in range(step.clients)]
        stopping = backend._stopping
        with self._cond:
            while not stopping.is_set():
                if not self._ready:
                    if self._outstanding == 0:
                        break  # every client is past the end
                    self._cond.wait(0.1)
                    continue
                when, c = self._ready[0]
                now = time.monotonic()
                if when > now:
                    self._cond.wait(when - now)
                    continue
                heapq.heappop(self._ready)
                if now >= end_at:
                    continue  # this client is done
                self._outstanding += 1
                self._cond.release()
                try:
                    self._issue(c)
                finally:
                    self._cond.acquire()
            self._cond.wait_for(lambda: self._outstanding == 0, backend.op_timeout + 2)
        backend.trace.emit(
            backend.now(),
            "workload",
            phase="end",
            prefix=step.prefix,
            sent=self.sent,
            acked=self.acked,
            failed=self.failed,
        )

    def _member(self, index: int) -> str | None:
        """The ``index``-th member in name order that is running (wrapping)."""
        if self.step.node is not None:
            return self.step.node
        members = self.backend.members
        for i in range(len(members)):
            m = members[(index + i) % len(members)]
            if m.running:
                return m.name
        return None

    def _issue(self, c: int) -> None:
        backend, plan = self.backend, self._plans[c]
        op = plan.next()
        serializable = op.op == "get" and self.step.reads == "serializable"
        name = self._member(self._preferred[c])
        invoked = backend.now()
        began = time.perf_counter()

        def done(out: Any, error: str | None) -> None:
            self._finished(c, op, name, serializable, invoked, time.perf_counter() - began, out, error)

        if name is None:
            done(None, "no member is running")
            return
        backend.clients[name].wl_start(op.op, op.key, op.value, op.expect, serializable, done)

    def _finished(
        self,
        c: int,
        op: PlannedOp,
        name: str | None,
        serializable: bool,
        invoked: float,
        latency: float,
        out: Any,
        error: str | None,
    ) -> None:
        plan = self._plans[c]
        ok = error is None
        extra: dict[str, Any] = {"client": c}
        if serializable:
            extra["serializable"] = True
        value = op.value
        if op.op == "get" and ok:
            value = out
            plan.observed(op.key, out)
        elif op.op == "txn":
            extra["expect"] = op.expect
            if ok:
                extra["succeeded"] = bool(out)
        self.backend._record(
            op.op, op.key, value, OpResult(ok, latency, value, error, name), "workload", invoked, extra
        )
        pause = plan.pause() if ok else max(plan.pause(), FAILURE_BACKOFF)
        with self._cond:
            self.sent += 1
            if ok:
                self.acked += 1
            else:
                self.failed += 1
                self._preferred[c] += 1  # fail over, as a client with several endpoints does
            self._outstanding -= 1
            heapq.heappush(self._ready, (time.monotonic() + pause, c))
            self._cond.notify()
