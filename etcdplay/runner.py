"""The one interpreter of scenario steps, for every backend.

The runner knows nothing of SimPy or etcd: time passes through
``backend.sleep``, selectors such as ``leader`` or ``followers:2`` are
resolved through ``backend.status()`` at the moment of the step, and what
happened is written to the trace. The same scenario therefore means the same
thing on the simulator and on a real cluster.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from etcdplay import __version__, checks, known_bugs
from etcdplay.backend import Backend, NodeStatus, OpResult
from etcdplay.checks import CheckResult
from etcdplay.distributions import Distribution
from etcdplay.scenario import (
    CrashStep,
    DelayStep,
    DeleteStep,
    DisorderStep,
    ExpectStep,
    GetStep,
    HealStep,
    IsolateStep,
    LoadStep,
    PartitionStep,
    PutStep,
    RestartStep,
    Scenario,
    StopStep,
    Target,
    WaitForLeaderStep,
    WaitStep,
    WorkloadStep,
    parse_selector,
)
from etcdplay.schedule import late_by
from etcdplay.trace import Trace, TraceWriter

# How often conditions (a leader, convergence, an expectation) are polled.
POLL_INTERVAL = 0.05
# The final read-back is tried at least this often before it counts as failed.
FINAL_READ_ATTEMPTS = 3


class SelectorError(RuntimeError):
    """A selector that cannot be resolved now (e.g. ``leader`` with no leader)."""


@dataclass
class RunResult:
    trace: Trace
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.ok]


def make_header(scenario: Scenario, seed: int, backend: str, **extra: object) -> dict[str, object]:
    return {
        "backend": backend,
        "seed": seed,
        "etcdplay": __version__,
        "nodes": scenario.cluster.names,
        "scenario": scenario.to_dict(),
        **extra,
    }


def current_leader(statuses: Sequence[NodeStatus]) -> str | None:
    """The running leader with the highest term (a deposed leader may not know yet)."""
    leaders = [s for s in statuses if s.running and s.role == "leader"]
    if not leaders:
        return None
    return max(leaders, key=lambda s: (s.term or 0, s.name)).name


def stable_leader(statuses: Sequence[NodeStatus]) -> str | None:
    """A leader that a majority of the cluster (itself included) recognises."""
    leader = current_leader(statuses)
    if leader is None:
        return None
    followers = sum(1 for s in statuses if s.running and s.leader == leader)
    if leader not in [s.leader for s in statuses if s.name == leader]:
        followers += 1
    return leader if followers >= len(statuses) // 2 + 1 else None


class Runner:
    """Runs one scenario against one started-or-not backend."""

    def __init__(self, scenario: Scenario, backend: Backend, seed: int, trace: TraceWriter) -> None:
        self.scenario = scenario
        self.backend = backend
        self.seed = seed
        self.trace = trace
        self.rng = random.Random(f"runner:{seed}")
        self.results: list[CheckResult] = []
        self._partitioned = False
        self._prefixes: set[str] = set()
        self._last_leader: str | None = None
        # The first group of the partition in force: what the ``isolated`` selector names.
        self._isolated: list[str] = []
        self._step_began = 0.0
        self._executed = 0  # steps executed so far: the next step's index
        self._late: float | None = None  # how late the current step began, when it was

    # --- the main loop ---------------------------------------------------------

    def run(self) -> RunResult:
        self.begin()
        for step in self.scenario.steps:
            self.execute(step)
        return self.finish()

    # The three parts of ``run``, public for interactive sessions
    # (etcdplay.play), which execute steps one by one as a person asks for
    # them: the same interpreter, so a played session replays exactly.

    def begin(self) -> None:
        """Start the backend's cluster."""
        self.backend.start(self.scenario, self.trace, self.seed)

    def execute(self, step: object, index: int | None = None) -> object:
        """Wait until the step's ``at``, then carry it out. Returns what the
        step returns: an ``OpResult`` for put/get/delete, else None."""
        at = getattr(step, "at", 0.0)
        self._sleep_until(at)
        if index is None:
            index = self._executed
        self._executed = index + 1
        self._late = late_by(at, self.backend.now())
        return self._do(index, step)

    def finish(self) -> RunResult:
        """The end of the run: settle, read back, check."""
        self._finish()
        return RunResult(Trace.from_writer(self.trace), self.results)

    def _sleep_until(self, at: float) -> None:
        if at > self.backend.now():
            self.backend.sleep_until(at)

    def _do(self, index: int, step: object) -> object:
        selector = getattr(step, "target", None)
        action = getattr(step, "action", "?")
        note = getattr(step, "note", None)
        try:
            nodes = self._resolve(selector) if selector is not None else []
        except SelectorError as exc:
            self._emit(
                "step", index=index, action=action, selector=selector, nodes=[], note=note, skipped=str(exc)
            )
            self._emit("note", text=f"step {index} ({action}) skipped: {exc}")
            return None
        self._step_began = self.backend.now()
        late = {"late": self._late} if self._late is not None else {}
        self._emit("step", index=index, action=action, selector=selector, nodes=nodes, note=note, **late)
        if self._late is not None:
            at = getattr(step, "at", 0.0)
            self._emit(
                "note",
                text=f"step {index} ({action}) ran {self._late:.3f} s late (at {self.backend.now():.3f} s, "
                f"written at = {at:g}): an earlier step blocked",
            )
        handler = self._handlers().get(type(step))
        if handler is None:  # pragma: no cover - the scenario model forbids it
            raise TypeError(f"no handler for {type(step).__name__}")
        try:
            return handler(step, nodes)
        except SelectorError as exc:
            # e.g. a partition group naming ``leader`` while an election runs;
            # handlers resolve everything before they act, so nothing is half done
            self._emit("note", text=f"step {index} ({action}) skipped: {exc}")
            return None

    def _handlers(self) -> dict[type, Callable[..., object]]:
        return {
            CrashStep: self._crash,
            StopStep: self._stop,
            RestartStep: self._restart,
            IsolateStep: self._isolate,
            PartitionStep: self._partition,
            HealStep: self._heal,
            DelayStep: self._delay,
            DisorderStep: self._disorder,
            LoadStep: self._load,
            PutStep: self._put,
            GetStep: self._get,
            DeleteStep: self._delete,
            WaitForLeaderStep: self._wait_for_leader,
            ExpectStep: self._expect,
            WaitStep: self._wait,
            WorkloadStep: self._workload,
        }

    # --- steps -------------------------------------------------------------------

    def _fault(self, action: str, selector: object, nodes: Sequence[str], **fields: Any) -> None:
        # Stamped with the time the step began: a live graceful stop returns
        # only once the process has exited, but the fault started earlier.
        self.trace.emit(
            self._step_began, "fault", action=action, selector=selector, nodes=list(nodes), **fields
        )

    def _crash(self, step: CrashStep, nodes: list[str]) -> None:
        self._last_leader = current_leader(self.backend.status())
        self.backend.crash(nodes)
        self._fault("crash", step.target, nodes)

    def _stop(self, step: StopStep, nodes: list[str]) -> None:
        self._last_leader = current_leader(self.backend.status())
        self.backend.stop(nodes)
        self._fault("stop", step.target, nodes)

    def _restart(self, step: RestartStep, nodes: list[str]) -> None:
        if nodes:
            self.backend.restart(nodes)
        self._fault("restart", step.target, nodes)

    def _isolate(self, step: IsolateStep, nodes: list[str]) -> None:
        self._last_leader = current_leader(self.backend.status())
        rest = [n for n in self.backend.nodes() if n not in nodes]
        self.backend.partition([nodes])
        self._partitioned = True
        self._isolated = list(nodes)
        self._fault("isolate", step.target, nodes, groups=[nodes, rest])

    def _partition(self, step: PartitionStep, _nodes: list[str]) -> None:
        self._last_leader = current_leader(self.backend.status())
        groups: list[list[str]] = []
        taken: set[str] = set()
        for group in step.groups:
            members: list[str] = []
            for item in group:
                for node in self._resolve(item, exclude=taken):
                    if node not in taken:
                        members.append(node)
                        taken.add(node)
            if members:
                groups.append(members)
        rest = [n for n in self.backend.nodes() if n not in taken]
        self.backend.partition(groups)
        self._partitioned = True
        self._isolated = list(groups[0]) if groups else []
        everyone = groups + ([rest] if rest else [])
        self._fault("partition", step.groups, sorted(taken, key=_node_order), groups=everyone)

    def _heal(self, step: HealStep, _nodes: list[str]) -> None:
        self.backend.heal()
        self._partitioned = False
        self._isolated = []
        self._fault("heal", None, [])

    def _delay(self, step: DelayStep, nodes: list[str]) -> None:
        self.backend.delay(nodes, Distribution.parse(step.latency_ms))
        self._fault("delay", step.target, nodes, latency_ms=step.latency_ms)

    def _disorder(self, step: DisorderStep, nodes: list[str]) -> None:
        # an optional capability: only the simulator can duplicate and reorder
        disorder = getattr(self.backend, "disorder", None)
        if not callable(disorder):
            self._emit("note", text=f"disorder skipped: the {self.backend.name} backend cannot do it")
            return
        disorder(nodes, step.duplicate, step.reorder, step.spread_ms / 1000.0)
        self._fault(
            "disorder",
            step.target,
            nodes,
            duplicate=step.duplicate,
            reorder=step.reorder,
            spread_ms=step.spread_ms,
        )

    def _load(self, step: LoadStep, _nodes: list[str]) -> None:
        self._prefixes.add(step.prefix)
        # keys/deletes only when asked for, so a backend without them still runs plain loads
        mix: dict[str, Any] = {}
        if step.keys:
            mix["keys"] = step.keys
        if step.deletes:
            mix["deletes"] = step.deletes
        node = step.node
        if node is not None and node not in self.backend.nodes():
            [node] = self._resolve(node)  # "leader": the one leading now
        self.backend.start_load(step.rate, step.duration, step.prefix, node, **mix)

    def _workload(self, step: WorkloadStep, _nodes: list[str]) -> None:
        self._prefixes.add(step.prefix)
        start = getattr(self.backend, "start_workload", None)
        if start is None:
            raise SelectorError(f"the {self.backend.name} backend runs no workload")
        start(step, self.rng.randrange(1 << 32))

    def _put(self, step: PutStep, _nodes: list[str]) -> OpResult:
        return self.backend.put(step.key, step.value, step.node)

    def _get(self, step: GetStep, _nodes: list[str]) -> OpResult:
        return self.backend.get(step.key, step.node)

    def _delete(self, step: DeleteStep, _nodes: list[str]) -> OpResult:
        return self.backend.delete(step.key, step.node)

    def _wait(self, step: WaitStep, _nodes: list[str]) -> None:
        """Nothing to do: reaching ``at`` was the point."""

    def _wait_for_leader(self, step: WaitForLeaderStep, _nodes: list[str]) -> None:
        start = self.backend.now()
        leader = self._poll(lambda: stable_leader(self.backend.status()), step.timeout)
        waited = self.backend.now() - start
        if leader:
            self._record(
                CheckResult("wait-for-leader", True, f"{leader} leads, after {waited:.3f} s", (leader,))
            )
        else:
            self._record(
                CheckResult(
                    "wait-for-leader", False, f"no leader within {step.timeout:g} s", at=self.backend.now()
                )
            )

    def _expect(self, step: ExpectStep, nodes: list[str]) -> None:
        scope = nodes or self.backend.nodes()
        condition = self._condition(step.expect, scope)
        outcome = self._poll(condition, step.within)
        name = f"expect:{step.expect}"
        if outcome:
            self._record(CheckResult(name, True, outcome, tuple(scope)))
        else:
            detail = self._explain(step.expect, scope)
            self._record(CheckResult(name, False, detail, tuple(scope), at=self.backend.now()))

    # --- conditions ----------------------------------------------------------------

    def _condition(self, what: str, scope: list[str]) -> Callable[[], str | None]:
        def in_scope() -> list[NodeStatus]:
            return [s for s in self.backend.status() if s.name in scope]

        if what == "leader":
            return lambda: f"{lead} leads" if (lead := current_leader(in_scope())) else None
        if what == "no-leader":
            return lambda: None if current_leader(in_scope()) else f"no leader among {', '.join(scope)}"
        if what == "single-leader":

            def single() -> str | None:
                leaders = [s.name for s in in_scope() if s.running and s.role == "leader"]
                return f"{leaders[0]} is the only leader" if len(leaders) == 1 else None

            return single
        if what == "leader-changed":
            return lambda: (
                f"leader changed from {self._last_leader} to {lead}"
                if (lead := current_leader(in_scope())) and lead != self._last_leader
                else None
            )
        if what == "leader-unchanged":
            return lambda: (
                f"{lead} still leads"
                if (lead := current_leader(in_scope())) and lead == self._last_leader
                else None
            )

        def converged() -> str | None:
            statuses = in_scope()
            # Agreement among the members that happen to run is not convergence
            # when too few run to commit anything: a quorum of the cluster must run.
            if sum(1 for s in statuses if s.running) < len(self.backend.nodes()) // 2 + 1:
                return None
            result = checks.convergence([{"node": s.name, **s.as_fields()} for s in statuses])
            return result.detail if result.ok else None

        return converged

    def _explain(self, what: str, scope: list[str]) -> str:
        statuses = [s for s in self.backend.status() if s.name in scope]
        states = ", ".join(
            f"{s.name}={s.role}/t{s.term}" if s.running else f"{s.name}=down" for s in statuses
        )
        running = sum(1 for s in statuses if s.running)
        quorum = len(self.backend.nodes()) // 2 + 1
        if what == "converged" and running < quorum:
            states += f"; only {running} of {len(self.backend.nodes())} members running, no quorum"
        elif what == "converged":
            # say how they disagree, not only that they do
            disagree = checks.convergence([{"node": s.name, **s.as_fields()} for s in statuses])
            if not disagree.ok:
                return f"{what} did not hold: {disagree.detail} ({states})"
        return f"{what} did not hold ({states})"

    def _poll(self, condition: Callable[[], str | None], within: float) -> str | None:
        deadline = self.backend.now() + within
        while True:
            outcome = condition()
            if outcome or self.backend.now() >= deadline:
                return outcome
            self.backend.sleep(min(POLL_INTERVAL, max(deadline - self.backend.now(), 1e-6)))

    # --- selectors -------------------------------------------------------------------

    def _resolve(self, target: Target | None, exclude: set[str] | None = None) -> list[str]:
        if target is None:
            return []
        items = [target] if isinstance(target, str) else list(target)
        chosen: list[str] = []
        for item in items:
            for node in self._resolve_one(item, exclude or set()):
                if node not in chosen:
                    chosen.append(node)
        return chosen

    def _resolve_one(self, item: str, exclude: set[str]) -> list[str]:
        names = self.backend.nodes()
        if item in names:
            return [item]
        kind, count = parse_selector(item)
        statuses = self.backend.status()
        running = [s.name for s in statuses if s.running and s.name not in exclude]
        if kind == "all":
            return [n for n in names if n not in exclude]
        if kind == "crashed":
            return [s.name for s in statuses if not s.running]
        if kind == "isolated":
            return list(self._isolated)
        if kind == "running":
            return self._pick(running, count)
        leader = self._leader_for_selector()
        if kind == "leader":
            return [leader]
        followers = [n for n in running if n != leader]
        if kind == "follower":
            return self._pick(followers, 1)
        if kind == "followers":
            return self._pick(followers, count)
        if kind == "majority":
            size = count or len(names) // 2 + 1
            return [*self._pick(followers, size - 1), leader] if size > 0 else []
        if kind == "minority":
            return self._pick(followers, count or (len(names) - 1) // 2)
        return self._pick(running, count or 1)  # random

    def _leader_for_selector(self) -> str:
        # A leader may be mid-election: give the cluster one election's time.
        wait = self.scenario.cluster.election_range_ms[1] / 1000 * 2
        leader = self._poll(lambda: current_leader(self.backend.status()), wait)
        if leader is None:
            raise SelectorError("no leader to resolve 'leader'/'follower' against")
        return leader

    def _pick(self, candidates: list[str], count: int | None) -> list[str]:
        if count is None or count >= len(candidates):
            return sorted(candidates, key=_node_order)
        return sorted(self.rng.sample(sorted(candidates, key=_node_order), count), key=_node_order)

    # --- the end -------------------------------------------------------------------------

    def _finish(self) -> None:
        backend = self.backend
        # Let a load that outlives the last step finish, bounded by its own duration.
        limit = backend.now() + self.scenario.duration + 5.0
        while backend.load_running() and backend.now() < limit:
            backend.sleep(0.1)
        if not self._partitioned:
            converged = self._condition("converged", backend.nodes())
            if self._poll(converged, self.scenario.settle) is None and self._silent_members():
                # A member restarted near the end may not answer yet: etcd serves
                # clients only once it has published itself through Raft, which
                # needs a leader. Wait for it as long as etcd waits on a request
                # (5 s + 2 election timeouts) before calling that divergence.
                patience = 5.0 + 2 * self.scenario.cluster.election_range_ms[1] / 1000
                self._poll(lambda: None if self._silent_members() else "all answer", patience)
                self._poll(converged, self.scenario.settle)
        else:
            backend.sleep(min(self.scenario.settle, 1.0))
        final_status = [{"node": s.name, **s.as_fields()} for s in backend.status()]
        self._emit("note", text="final status", statuses=final_status)

        safety = getattr(backend, "safety_results", None)
        if callable(safety):
            for result in safety():
                self._record(result)
        self._record(checks.one_leader_per_term(self.trace.events))
        if self._partitioned:
            self._record(
                CheckResult(
                    "convergence",
                    True,
                    "skipped: the scenario ends with the network partitioned",
                    skipped=True,
                )
            )
        else:
            self._record(checks.convergence(final_status))
        final = None if self._partitioned else self._final_read()
        result = checks.no_acked_write_lost(self.trace.events, final)
        if final is None and self._partitioned:
            result = CheckResult(
                result.name, True, "skipped: the network is partitioned at the end", skipped=True
            )
        self._record(result)
        # live times are read a moment after the fact: a little slack on "after"
        slack = 0.0 if self.backend.name == "sim" else 0.05
        self._record(
            checks.final_values(self.trace.events, final, partitioned=self._partitioned, slack=slack)
        )
        self._record(checks.no_divergence(self.trace.events))
        self._record(checks.linearizable(self.trace.events))
        self._emit("end", duration=round(backend.now(), 6), ok=all(c.ok for c in self.results))

    def _silent_members(self) -> list[str]:
        """Running members that gave no status (no hash) just now."""
        return [s.name for s in self.backend.status() if s.running and s.hash is None]

    def _leader_known_by_all(self) -> str | None:
        statuses = self.backend.status()
        leader = stable_leader(statuses)
        if leader and all(s.leader == leader for s in statuses if s.running):
            return leader
        return None

    def _final_read(self) -> dict[str, str] | None:
        """Read everything back through a leader. A member restarted by the last
        step may still be forcing an election: give the cluster time for one."""
        patience = max(self.scenario.settle, 2 * self.scenario.cluster.election_range_ms[1] / 1000)
        deadline = self.backend.now() + patience
        attempts = 0
        while True:
            self._poll(self._leader_known_by_all, max(0.0, deadline - self.backend.now()))
            final = self.backend.read_all("")
            attempts += 1
            # A read lost on a lossy link waits out the whole request timeout,
            # longer than the patience: a lost read is retried, not a verdict.
            if final is not None or (self.backend.now() >= deadline and attempts >= FINAL_READ_ATTEMPTS):
                return final
            self.backend.sleep(POLL_INTERVAL)

    # --- helpers -------------------------------------------------------------------------

    def _record(self, result: CheckResult) -> None:
        result = known_bugs.recognise(result, self.trace.header, self.trace.events)
        self.results.append(result)
        self._emit("check", **result.fields())

    def _emit(self, kind: str, **fields: Any) -> None:
        self.trace.emit(self.backend.now(), kind, **fields)


def _node_order(name: str) -> tuple[int, str]:
    digits = name[1:]
    return (int(digits), name) if name.startswith("n") and digits.isdigit() else (1 << 30, name)


def run_scenario(scenario: Scenario, backend: Backend, seed: int, trace: TraceWriter) -> RunResult:
    """Run ``scenario`` on ``backend``; the backend is closed afterwards, whatever happens."""
    try:
        return Runner(scenario, backend, seed, trace).run()
    finally:
        backend.close()
