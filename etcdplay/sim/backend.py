"""SimBackend: the Backend protocol on a simulated cluster in virtual time.

Everything random is drawn from generators seeded from the run's seed, one
per purpose (network, client, and each node's timers and disk), so the same
scenario and seed give the same trace; nothing reads the wall clock except
real-time mode, which only decides *when* virtual time advances, never what
happens in it.

Real-time mode (``realtime_speed``): virtual time is paced to the wall clock
at that speed, for the web and terminal views. ``run_forever_in_thread``
advances it in a background thread; every public method takes one lock, so a
UI may call operations at any moment while events stream to trace
subscribers.
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from etcdplay.backend import BackendError, NodeStatus, OpResult
from etcdplay.checks import CheckResult
from etcdplay.distributions import Distribution
from etcdplay.scenario import Scenario, WorkloadStep
from etcdplay.sim.client import ClientResult, ClientService, LoadGenerator
from etcdplay.sim.clock import HeapScheduler, SimpyScheduler
from etcdplay.sim.message_trace import log_fields, message_fields
from etcdplay.sim.network import Disorder, Network
from etcdplay.sim.node import SimNode
from etcdplay.sim.raft import RaftEvent
from etcdplay.sim.safety import SafetyMonitor
from etcdplay.sim.timers import PeriodicTimer, timer_model
from etcdplay.sim.workload import SimWorkload
from etcdplay.trace import TraceWriter
from etcdplay.workload import start_fields

#: etcd's request timeout is 5 s plus twice the election timeout.
REQUEST_TIMEOUT_BASE = 5.0

#: The monitor's check names, as the trace spells them.
_CHECK_NAMES = {
    "election_safety": "election-safety",
    "leader_append_only": "leader-append-only",
    "log_matching": "log-matching",
    "leader_completeness": "leader-completeness",
    "state_machine_safety": "state-machine-safety",
    "vote_quorum": "vote-quorum",
    "one_vote_per_term": "one-vote-per-term",
    "leader_commits_own_term": "leader-commits-own-term",
    "follower_commit_verified": "follower-commit-verified",
    "append_from_term_leader": "append-from-term-leader",
    "match_index_valid": "match-index-valid",
}


def derive_rng(seed: int, purpose: str) -> random.Random:
    """A generator for one purpose; string seeds hash the same everywhere."""
    return random.Random(f"etcdplay:{seed}:{purpose}")


#: The event loops a SimBackend can run on: on a SimPy environment's clock
#: (the default), or a bare heap with no SimPy; both run calls in the same
#: order, so give the same trace, and run about as fast.
ENGINES = ("simpy", "heap")


class SimBackend:
    name = "sim"

    def __init__(
        self,
        realtime_speed: float | None = None,
        *,
        check_safety: bool = True,
        engine: str = "simpy",
        trace_messages: bool = False,
        lean: bool = False,
    ) -> None:
        if realtime_speed is not None and realtime_speed <= 0:
            raise ValueError("realtime_speed must be > 0")
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
        self.engine = engine
        self.realtime_speed = realtime_speed
        self._check_safety = check_safety
        # the opt-in message level: every peer message, timer and log in the trace
        self.trace_messages = trace_messages
        # pass/fail only (etcdplay.sim.lean): no status, vote, leader or commit
        # events; the run itself is the same (they only observe it)
        self.lean = lean
        self._lock = threading.RLock()
        self._sched: HeapScheduler | SimpyScheduler | None = None
        self._trace: TraceWriter | None = None
        self._nodes: dict[str, SimNode] = {}
        self._loads: list[LoadGenerator | SimWorkload] = []
        self._seed = 0
        self.safety: SafetyMonitor | None = None
        # real-time pacing: virtual time v0 corresponds to wall time w0
        self._anchor = (0.0, 0.0)
        # not "_thread": compiled, attribute names become C struct fields,
        # and __thread is a C keyword
        self._pacer: threading.Thread | None = None
        self._halt = threading.Event()
        # Real-time control for interactive sessions (etcdplay.play): time
        # stands still while a person has paused it, or while a session holds
        # it to act at one exact instant.
        self._paused = False
        self._held = False
        # real time never runs past this instant (a session's next scheduled step)
        self._barrier: float | None = None
        # ... nor past the end of a ``sleep`` in progress (which overrides the barrier:
        # the sleeper is the step before the barrier's, and must finish first)
        self._wake: float | None = None

    # --- building -------------------------------------------------------------------

    def start(self, scenario: Scenario, trace: TraceWriter, seed: int) -> None:
        with self._lock:
            if self._sched is not None:
                raise BackendError("this SimBackend was already started")
            cluster, net = scenario.cluster, scenario.network
            sched: HeapScheduler | SimpyScheduler = (
                SimpyScheduler() if self.engine == "simpy" else HeapScheduler()
            )
            self._sched, self._trace = sched, trace
            names = cluster.names
            self._seed = seed
            base_disorder = (
                Disorder(net.duplicate, net.reorder, net.reorder_ms / 1000.0)
                if net.duplicate or net.reorder
                else None
            )
            self.network = Network(
                sched,
                names,
                Distribution.parse(net.latency_ms),
                derive_rng(seed, "network"),
                loss=net.loss,
                disorder=base_disorder,
                disorder_rng=derive_rng(seed, "disorder"),
            )
            model = timer_model(
                cluster.timer,
                cluster.heartbeat_ms,
                cluster.election_timeout_ms,
                cluster.size,
                jitter_ms=cluster.timer_jitter_ms or 0.0,
            )
            # clock skew: each member's timers at their own rate (drawn only
            # when asked for, so other runs draw exactly as before)
            clock_rng = derive_rng(seed, "clock") if cluster.clock_skew else None
            self.safety = SafetyMonitor() if self._check_safety else None
            disk = Distribution.parse(cluster.disk_ms)
            election = cluster.election_range_ms[0] / 1000.0
            for name in names:
                self._nodes[name] = SimNode(
                    name,
                    names,
                    scheduler=sched,
                    network=self.network,
                    timers=(
                        model.skewed(clock_rng.uniform(1 - cluster.clock_skew, 1 + cluster.clock_skew))
                        if clock_rng is not None
                        else model
                    ),
                    disk=disk,
                    rng=derive_rng(seed, f"disk:{name}"),
                    timer_rng=derive_rng(seed, f"timers:{name}"),
                    pre_vote=cluster.pre_vote,
                    check_quorum=cluster.check_quorum,
                    safety=self.safety,
                    on_event=self._raft_event,
                    transfer_poll=cluster.heartbeat_ms / 1000.0,
                    transfer_timeout=REQUEST_TIMEOUT_BASE + 2 * election,
                )
            self.clients = ClientService(
                sched,
                self._nodes,
                self.network,
                derive_rng(seed, "client"),
                request_timeout=REQUEST_TIMEOUT_BASE + 2 * election,
            )
            if self.trace_messages:
                self.network.observer = self._message_event
                for node in self._nodes.values():
                    node.on_timer = self._timer_event
            for node in self._nodes.values():
                node.start()
            self._status_timer = PeriodicTimer(sched, scenario.status_interval, self._emit_status)
            if not self.lean:
                self._status_timer.start(first_after=0.0)
            self._anchor = (0.0, time.monotonic())
            if cluster.etcd_flags:
                flags = ", ".join(f"--{k}" for k in cluster.etcd_flags)
                trace.emit(0.0, "note", text=f"etcd flags {flags}: not modelled by the simulator (live only)")

    def _raft_event(self, node: str, event: RaftEvent, now: float) -> None:
        assert self._trace is not None
        if not self.lean or event.kind == "role":
            self._trace.emit_fields(now, event.kind, node, event.fields)
        if event.kind == "leader" and event.fields.get("leader") is not None:
            self.clients.leader_known(node)

    def _emit_status(self) -> None:
        assert self._trace is not None
        now = self._require_clock().now()
        for status in self._status():
            fields = status.as_fields()
            if self.trace_messages:
                raft = self._nodes[status.name].raft
                if raft is not None and status.running:
                    fields.update(log_fields(raft.log))
            self._trace.emit_fields(now, "status", status.name, fields)

    def _message_event(
        self, mid: int, src: str, dst: str, message: Any, arrival: float | None, dropped: str | None
    ) -> None:
        assert self._trace is not None
        fields = message_fields(message)
        fields["id"] = mid
        fields["to"] = dst
        if arrival is not None:
            fields["arrive"] = round(arrival, 6)
        if dropped is not None:
            fields["dropped"] = dropped
        self._trace.emit_fields(self._require_clock().now(), "message", src, fields)

    def _timer_event(self, node: str, deadline: float | None, timeout: float) -> None:
        assert self._trace is not None
        self._trace.emit(
            self._require_clock().now(),
            "timer",
            node,
            deadline=None if deadline is None else round(deadline, 6),
            timeout=round(timeout, 6),
        )

    # --- time -------------------------------------------------------------------------

    def now(self) -> float:
        with self._lock:
            return self._require_clock().now()

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self.realtime_speed is None:
            with self._lock:
                clock = self._require_clock()
                clock.run(until=clock.now() + seconds)
        elif self._halt.is_set():
            # closed under a step that waits (a session quit mid-lesson): end the step
            # now; waiting out its deadline at the real-time pace held close() for 30 s
            raise BackendError("the simulation was closed")
        elif self._pacer is not None:
            self._paced_sleep(seconds)
        else:
            self.pump(time.monotonic() + seconds / self.realtime_speed)

    def sleep_until(self, t: float) -> None:
        if self.realtime_speed is None:
            with self._lock:
                clock = self._require_clock()
                if t > clock.now():
                    clock.run(until=t)
        else:
            self.sleep(t - self.now())

    def _require_clock(self) -> HeapScheduler | SimpyScheduler:
        if self._sched is None:
            raise BackendError("the simulation is not started (call start first)")
        return self._sched

    # --- real time --------------------------------------------------------------------

    def _paced_sleep(self, seconds: float) -> None:
        """Let exactly ``seconds`` of virtual time pass at the real-time pace and
        hold the clock there: a step that polls (wait-for-leader, expect) sees the
        cluster at the instants ``etcdplay simulate`` will, so a played session
        replays event for event (a wall-clock sleep woke at whatever instant the
        pacer had reached)."""
        with self._lock:
            wake = self._require_clock().now() + seconds
            self._wake = wake
            held = self._held
        self.release()  # sleeping means letting time run
        try:
            while self._require_clock().now() < wake:
                if self._halt.is_set():
                    raise BackendError("the simulation was closed")
                time.sleep(0.002)
        finally:
            with self._lock:
                self._wake = None
                if held:  # a session acting: what it does next happens at ``wake``
                    self._held = True

    def _paced_target(self) -> float:
        v0, w0 = self._anchor
        assert self.realtime_speed is not None
        return v0 + (time.monotonic() - w0) * self.realtime_speed

    def _advance_paced(self) -> None:
        with self._lock:
            clock = self._require_clock()
            if self._paused or self._held:
                # keep the anchor fresh, so time resumes from here, not with a jump
                self._anchor = (clock.now(), time.monotonic())
                return
            # A slice of at most ~20 ms of wall time, so that a caller waiting
            # for the lock (a view asking for status, a session about to act)
            # never waits long even when the simulation cannot keep up.
            target = min(self._paced_target(), clock.now() + 0.02 * (self.realtime_speed or 1.0))
            limit = self._wake if self._wake is not None else self._barrier
            if limit is not None and target > limit:
                target = max(limit, clock.now())
            if target > clock.now():
                clock.run(until=target)
            # Not strict: if computing fell far behind the wall clock (a slow
            # machine, a debugger), continue from here instead of racing.
            lag = (target - clock.now()) / (self.realtime_speed or 1.0)
            if lag > 0.5:
                self._anchor = (clock.now(), time.monotonic())

    def pump(self, until_wall: float, done: Callable[[], bool] | None = None) -> None:
        """Real-time mode: advance virtual time with the wall clock until
        ``time.monotonic()`` reaches ``until_wall`` (or ``done()`` holds)."""
        if self.realtime_speed is None:
            raise BackendError("pump() is for real-time mode (SimBackend(realtime_speed=...))")
        while True:
            if self._halt.is_set() and self._pacer is None:
                # closed (a session shutting down or branching) while a step
                # waited for time to pass: a closed clock never reaches it
                raise BackendError("the simulation was closed")
            self._advance_paced()
            if done is not None and done():
                return
            remaining = until_wall - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(0.005, remaining))

    # --- interactive control (real-time mode) ------------------------------------------

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        """Stop virtual time (a person pressed pause)."""
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            self._anchor = (self._require_clock().now(), time.monotonic())

    def hold(self) -> None:
        """Stop virtual time until ``release``, so that what a caller does
        next happens at one exact instant (``now()`` does not move). A client
        operation submitted while held releases it: it needs time to pass. A
        ``sleep`` lets time run to exactly its end and holds it there again."""
        with self._lock:
            self._held = True

    def release(self) -> None:
        with self._lock:
            if self._held:
                self._held = False
                self._anchor = (self._require_clock().now(), time.monotonic())

    def set_barrier(self, t: float | None) -> None:
        """Real time stops at ``t`` (until moved or cleared): a session's next
        scheduled step then runs at exactly its time, however busy the machine."""
        with self._lock:
            self._barrier = t

    def set_speed(self, speed: float) -> None:
        """Change the real-time speed (virtual seconds per wall second)."""
        if not speed > 0:
            raise BackendError(f"speed must be > 0, not {speed!r}")
        with self._lock:
            self.realtime_speed = speed
            self._anchor = (self._require_clock().now(), time.monotonic())

    def run_to(self, t: float) -> None:
        """Advance virtual time to exactly ``t`` now, as fast as it computes
        (paused or held: this is how a session steps or catches up)."""
        with self._lock:
            clock = self._require_clock()
            if t > clock.now():
                clock.run(until=t)
            self._anchor = (clock.now(), time.monotonic())

    def run_until(self, limit: float, stop: Callable[[], bool]) -> None:
        """Advance virtual time, as fast as it computes, until ``stop()`` holds
        (checked after each event) or time reaches ``limit``: single-stepping."""
        with self._lock:
            clock = self._require_clock()
            stop_at = self._wake if self._wake is not None else self._barrier
            if stop_at is not None:
                limit = min(limit, max(stop_at, clock.now()))
            if limit > clock.now():
                clock.run(until=limit, stop=stop)
            self._anchor = (clock.now(), time.monotonic())

    def run_forever_in_thread(self) -> threading.Thread:
        """Real-time mode: keep virtual time moving in a daemon thread until close()."""
        if self.realtime_speed is None:
            raise BackendError("run_forever_in_thread() needs real-time mode")
        if self._pacer is None:
            self._halt.clear()
            with self._lock:
                self._anchor = (self._require_clock().now(), time.monotonic())
            self._pacer = threading.Thread(target=self._loop, name="sim-realtime", daemon=True)
            self._pacer.start()
        return self._pacer

    def _loop(self) -> None:
        while not self._halt.is_set():
            self._advance_paced()
            self._halt.wait(0.005)

    # --- views ------------------------------------------------------------------------

    def nodes(self) -> list[str]:
        return list(self._nodes)

    def status(self) -> list[NodeStatus]:
        with self._lock:
            return self._status()

    def _status(self) -> list[NodeStatus]:
        rows = []
        for name, node in self._nodes.items():
            raft, kv = node.raft, node.kv
            if raft is None or kv is None or not node.running:
                rows.append(NodeStatus(name, running=False))
                continue
            rows.append(
                NodeStatus(
                    name,
                    running=True,
                    role=str(raft.role),  # a StrEnum: its value, without enum's property
                    term=raft.term,
                    leader=raft.leader,
                    commit=raft.commit_index,
                    applied=kv.applied_index,
                    revision=kv.revision,
                    keys=kv.key_count,
                    hash=f"{node.digest:016x}",
                )
            )
        return rows

    def safety_results(self) -> list[CheckResult]:
        """The five Raft safety properties, as the runner's check results."""
        with self._lock:
            if self.safety is None:
                return []
            results = []
            for check, ok, detail in self.safety.results():
                first = next((v for v in self.safety.violations if v.check == check), None)
                results.append(
                    CheckResult(
                        _CHECK_NAMES.get(check, check),
                        ok,
                        detail,
                        nodes=first.nodes if first else (),
                        at=first.time if first else None,
                    )
                )
            return results

    # --- faults -------------------------------------------------------------------------

    def _members(self, nodes: Sequence[str]) -> list[SimNode]:
        unknown = [n for n in nodes if n not in self._nodes]
        if unknown:
            raise BackendError(f"no such member(s): {', '.join(unknown)} (have {', '.join(self._nodes)})")
        return [self._nodes[n] for n in nodes]

    def _down_event(self, node: SimNode) -> None:
        self.clients.member_down(node.name)
        self._emit_down(node)

    def _emit_down(self, node: SimNode) -> None:
        assert self._trace is not None
        term = node.raft.term if node.raft is not None else None
        self._trace.emit(self._require_clock().now(), "role", node.name, role="down", term=term)

    def _emit_up(self, node: SimNode) -> None:
        # A restarted member comes back as a follower, which Raft does not
        # report as a role change; without this event reports draw it down
        # until its next election (live traces get it from etcd's log).
        assert self._trace is not None and node.raft is not None
        self._trace.emit(
            self._require_clock().now(), "role", node.name, role=node.raft.role.value, term=node.raft.term
        )

    def _halted(self, node: SimNode) -> None:
        """A stopping member stops taking input (after its leadership transfer)."""
        assert self._trace is not None
        transferee = node.transfer_target
        if transferee is not None and (node.raft is None or node.raft.leader != transferee):
            self._trace.emit(
                self._require_clock().now(),
                "note",
                node.name,
                text=f"leadership transfer to {transferee} failed; stopping anyway",
            )
        self._emit_down(node)

    def crash(self, nodes: Sequence[str]) -> None:
        with self._lock:
            for node in self._members(nodes):
                if node.running:
                    self._down_event(node)
                    node.crash()

    def stop(self, nodes: Sequence[str]) -> None:
        with self._lock:
            for node in self._members(nodes):
                if node.running and not node.stopping and not node.leaving:
                    # etcd closes its client server first, then (a leader)
                    # hands over leadership, then stops. 'down' is recorded
                    # when it stops taking input; the last writes still land
                    # a moment later.
                    self.clients.member_down(node.name)
                    node.stop(halted=functools.partial(self._halted, node))
                    if node.leaving:
                        assert self._trace is not None
                        self._trace.emit(
                            self._require_clock().now(),
                            "note",
                            node.name,
                            text=f"stopping leader: leadership transfer to {node.transfer_target}",
                        )

    def restart(self, nodes: Sequence[str]) -> None:
        with self._lock:
            for node in self._members(nodes):
                if node.leaving:
                    self._emit_down(node)  # restarted while handing over
                if node.stopping or node.leaving:
                    node.crash()  # restart right away: the writes were not done
                if not node.running:
                    node.start()
                    if self.safety is not None and node.raft is not None:
                        # the persisted-vote check: it resumes with what its disk holds
                        self.safety.on_restart(
                            node.name, node.raft, node.storage.hard_state, self._require_clock().now()
                        )
                    self._emit_up(node)

    def partition(self, groups: Sequence[Sequence[str]]) -> None:
        with self._lock:
            for group in groups:
                self._members(group)
            self.network.partition(groups)

    def heal(self) -> None:
        with self._lock:
            self.network.heal()

    def delay(self, nodes: Sequence[str], latency: Distribution) -> None:
        with self._lock:
            self._members(nodes)
            self.network.delay(nodes, latency)

    def disorder(self, nodes: Sequence[str], duplicate: float, reorder: float, spread: float) -> None:
        """Duplicate and reorder Raft messages on links touching ``nodes``
        until ``heal`` (simulator only: not part of the Backend protocol)."""
        with self._lock:
            self._members(nodes)
            self.network.disorder(nodes, Disorder(duplicate, reorder, spread))

    # --- client operations -----------------------------------------------------------

    def _client_event(self, result: ClientResult, extra: dict[str, Any] | None = None) -> None:
        assert self._trace is not None
        now = self._require_clock().now()
        fields: dict[str, Any] = {
            "op": result.op,
            "key": result.key,
            "invoked": round(now - result.latency, 6),
            "ok": result.ok,
            "latency": round(result.latency, 6),
            "source": result.source,
        }
        if result.op == "put":
            fields["value"] = result.value  # what was written (acknowledged or not)
        elif result.op == "get" and result.ok:
            fields["value"] = result.value if isinstance(result.value, str) else None  # None: no such key
        if result.error is not None:
            fields["error"] = result.error
        if extra:
            fields.update(extra)
        self._trace.emit_fields(now, "client", result.node, fields)

    def _run_op(
        self, op: str, key: str, value: str = "", *, prefix: bool = False, node: str | None = None
    ) -> ClientResult:
        box: list[ClientResult] = []
        with self._lock:
            clock = self._require_clock()
            if node is not None:
                self._members([node])

            def done(result: ClientResult) -> None:
                box.append(result)
                if not prefix:
                    self._client_event(result)

            self.clients.submit(op, key, value, done=done, prefix=prefix, endpoint=node)
            if self.realtime_speed is not None and self._held:
                self.release()  # the request needs time to get an answer
            if self.realtime_speed is None:
                # The request timeout guarantees an answer.
                clock.run(until=float("inf"), stop=lambda: bool(box))
                return box[0]
        if self._pacer is not None:
            while not box:
                if self._halt.wait(0.002):
                    # closed with the request in flight (an interactive session
                    # shutting down or branching): it never got an answer
                    return ClientResult(op, key, False, 0.0, None, "the simulation was closed", node)
        else:
            self.pump(float("inf"), done=lambda: bool(box))
        return box[0]

    @staticmethod
    def _op_result(result: ClientResult) -> OpResult:
        value = result.value if isinstance(result.value, str) or result.value is None else None
        return OpResult(result.ok, result.latency, value, result.error, result.node)

    def put(self, key: str, value: str, node: str | None = None) -> OpResult:
        return self._op_result(self._run_op("put", key, value, node=node))

    def get(self, key: str, node: str | None = None) -> OpResult:
        return self._op_result(self._run_op("get", key, node=node))

    def delete(self, key: str, node: str | None = None) -> OpResult:
        return self._op_result(self._run_op("delete", key, node=node))

    def read_all(self, prefix: str) -> dict[str, str] | None:
        result = self._run_op("get", prefix, prefix=True)
        if not result.ok or not isinstance(result.value, dict):
            return None
        return dict(result.value)

    def start_load(
        self,
        rate: float,
        duration: float,
        prefix: str,
        node: str | None = None,
        *,
        keys: int = 0,
        deletes: float = 0.0,
    ) -> None:
        with self._lock:
            assert self._trace is not None
            if node is not None:
                self._members([node])
            load = LoadGenerator(
                self.clients,
                self._require_clock(),
                rate,
                duration,
                prefix,
                on_result=self._client_event,
                on_end=self._load_ended,
                endpoint=node,
                keys=keys,
                deletes=deletes,
                rng=derive_rng(self._seed, f"load:{len(self._loads)}") if deletes else None,
            )
            self._loads.append(load)
            self._trace.emit(
                self._require_clock().now(),
                "load",
                phase="start",
                rate=rate,
                duration=duration,
                prefix=prefix,
            )
            load.start()

    def _load_ended(self, load: LoadGenerator) -> None:
        assert self._trace is not None
        self._trace.emit(
            self._require_clock().now(),
            "load",
            phase="end",
            rate=load.rate,
            duration=load.duration,
            prefix=load.prefix,
            sent=load.sent,
            acked=load.acked,
            failed=load.failed,
        )

    def start_workload(self, step: WorkloadStep, seed: int) -> None:
        """Run the ``workload`` step's clients in the background (etcdplay.sim.workload)."""
        with self._lock:
            assert self._trace is not None
            clock = self._require_clock()
            if step.node is not None:
                self._members([step.node])
            workload = SimWorkload(step, seed, self.clients, clock, self._client_event, self._workload_ended)
            self._loads.append(workload)
            self._trace.emit_fields(clock.now(), "workload", None, start_fields(step))
            workload.start()

    def _workload_ended(self, workload: SimWorkload) -> None:
        assert self._trace is not None
        self._trace.emit(
            self._require_clock().now(),
            "workload",
            phase="end",
            prefix=workload.step.prefix,
            sent=workload.sent,
            acked=workload.acked,
            failed=workload.failed,
        )

    def load_running(self) -> bool:
        with self._lock:
            return any(load.running for load in self._loads)

    def close(self) -> None:
        self._halt.set()
        thread, self._pacer = self._pacer, None
        if thread is not None:
            thread.join(timeout=5)
        with self._lock:
            for node in self._nodes.values():
                if node.timers is not None:
                    node.timers.stop()
