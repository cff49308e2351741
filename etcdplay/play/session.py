"""PlaySession: one cluster a person plays with, on the simulator or real etcd.

Commands in, trace events out. The session owns one backend, one trace and
one scenario ``Runner``; views (the web page, the terminal UI) only call
``submit`` and the controls, and render the events they are told about.

How a command becomes history that replays exactly:

* Every cluster command (kill, partition, put, stress...) is turned into a
  scenario step and carried out by the runner, the one interpreter of steps,
  on a single worker thread, in order: the runner's own semantics (a step
  that blocks, like a put without quorum, delays the next), so a saved
  session means the same thing to ``etcdplay simulate``.
* On the simulator the session *holds* virtual time while it reads the
  clock and acts, so the step is recorded with the very instant it ran at;
  replay runs the clock to exactly that instant (``Backend.sleep_until``)
  and does the same thing. The simulator is deterministic, so same seed and
  same steps give the same trace, byte for byte.
* A lesson (a scenario with steps) is played by the same worker: each step
  when virtual time reaches its ``at``, user commands interleaved.
* Time travel: the trace is the history (views fold it up to any moment).
  ``branch(t)`` re-runs the simulation with the same seed and the steps
  recorded up to ``t``, at full speed, then continues in real time from
  there: "what if I had killed n3 here instead".
"""

from __future__ import annotations

import contextlib
import queue
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import tomli_w

from etcdplay.backend import Backend, BackendError, NodeStatus, OpResult
from etcdplay.play.commands import CommandError, Control, parse_command, step_with_time
from etcdplay.runner import Runner, make_header
from etcdplay.scenario import LoadStep, Scenario, WaitStep
from etcdplay.trace import Event, TraceWriter, encode

#: How long before a lesson step's time the worker takes hold of the clock, in
#: wall seconds, so the step runs at its exact virtual ``at``.
_LESSON_LEAD = 0.03


class SessionError(RuntimeError):
    """The session cannot do what was asked (e.g. pause on real etcd)."""


@dataclass
class CommandResult:
    """What a command did, for the view to show."""

    ok: bool
    action: str
    message: str
    at: float | None = None  # the time it ran at (seconds since start)
    op: dict[str, Any] | None = None  # put/get/delete: value, latency, error, node

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, "action": self.action, "message": self.message}
        if self.at is not None:
            out["at"] = round(self.at, 6)
        if self.op is not None:
            out["op"] = self.op
        return out


@dataclass
class _Job:
    step: Any
    future: Future[CommandResult]
    lesson: bool = False


@dataclass
class _Watcher:
    on_event: Callable[[Event], None]
    on_reset: Callable[[], None] | None = None


@dataclass
class SessionInfo:
    """What a view shows about the session (seed, backend, capabilities...)."""

    backend: str
    seed: int
    scenario: str
    explain: str
    nodes: list[str]
    speed: float | None
    paused: bool
    generation: int
    capabilities: dict[str, bool] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class PlaySession:
    """A cluster to play with. ``start()``, then ``submit`` commands; ``close()``
    stops every process it started (also on ``with PlaySession(...)``)."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        live: bool = False,
        seed: int | None = None,
        speed: float = 1.0,
        messages: bool = True,
        backend_factory: Callable[[], Backend] | None = None,
        start_paused: bool = False,
        etcd_bin: str | None = None,
    ) -> None:
        if not speed > 0:
            raise SessionError(f"speed must be > 0, not {speed!r}")
        self.seed = seed if seed is not None else secrets.randbelow(1_000_000)
        expanded = scenario.expanded(self.seed)
        # the lesson's steps are played by the session; the scenario it
        # records holds what was actually played
        self.base = expanded.model_copy(update={"steps": []})
        self.lesson = list(expanded.steps)
        self.live = live
        self.speed = speed
        self.messages = messages and not live
        self._factory = backend_factory
        self.etcd_bin = etcd_bin
        self._start_paused = start_paused
        self._watchers: list[_Watcher] = []
        self._watch_lock = threading.Lock()
        self._state_lock = threading.RLock()  # backend/trace/runner swaps (branch)
        self.generation = 0  # bumped when a branch replaces the history
        self.played: list[Any] = []  # every step carried out, with its time
        self._stress = 0
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._closing = threading.Event()
        self._pending_lesson: list[Any] = []
        self.backend: Backend | None = None
        self.trace: TraceWriter | None = None
        self.runner: Runner | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.header_extra: dict[str, Any] = {}
        self.closed = False

    # --- life cycle ---------------------------------------------------------------

    def _new_backend(self, realtime: bool) -> Backend:
        if self._factory is not None:
            return self._factory()
        if self.live:
            from etcdplay.live.backend import LiveBackend

            return LiveBackend(self.etcd_bin)
        from etcdplay.sim.backend import SimBackend

        return SimBackend(realtime_speed=self.speed if realtime else None, trace_messages=self.messages)

    def _header(self, scenario: Scenario) -> dict[str, Any]:
        extra = dict(self.header_extra)
        if self.messages:
            extra["messages"] = True
        extra["played"] = True
        return make_header(scenario, self.seed, "live" if self.live else "sim", **extra)

    def start(self) -> None:
        """Bring the cluster up and start playing (a live cluster takes seconds)."""
        backend = self._new_backend(realtime=True)
        header_fields = getattr(backend, "header_fields", None)
        if callable(header_fields):
            self.header_extra = dict(header_fields())
        trace = TraceWriter(self._header(self.base), keep=True)
        runner = Runner(self.base, backend, self.seed, trace)
        self._install(backend, trace, runner)
        try:
            runner.begin()
        except BaseException:
            backend.close()
            raise
        self._pending_lesson = list(self.lesson)
        self._set_barrier()
        self._start_clock()
        self._start_worker()

    def _start_clock(self) -> None:
        backend = self.backend
        if self.live or backend is None:
            return
        if self._start_paused:
            self._sim().pause()
        self._sim().run_forever_in_thread()

    def _install(self, backend: Backend, trace: TraceWriter, runner: Runner) -> None:
        with self._state_lock:
            if self._unsubscribe is not None:
                self._unsubscribe()
            self.backend, self.trace, self.runner = backend, trace, runner
            self._unsubscribe = trace.subscribe(self._tell)

    def close(self) -> None:
        """Stop the worker and the cluster (every etcd member, temp data)."""
        if self.closed:
            return
        self.closed = True
        self._closing.set()
        backend = self.backend
        if backend is not None:
            backend.close()  # wakes a worker blocked on a request
        self._stop_worker()

    def __enter__(self) -> PlaySession:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- what views see -----------------------------------------------------------

    def watch(
        self, on_event: Callable[[Event], None], on_reset: Callable[[], None] | None = None
    ) -> Callable[[], None]:
        """Call ``on_event`` for every new trace event (from any thread: keep it
        quick and thread-safe) and ``on_reset`` when a branch replaces the
        history (then read ``events()`` again). Returns an unwatch function."""
        watcher = _Watcher(on_event, on_reset)
        with self._watch_lock:
            self._watchers.append(watcher)

        def unwatch() -> None:
            with self._watch_lock, contextlib.suppress(ValueError):
                self._watchers.remove(watcher)

        return unwatch

    def _tell(self, event: Event) -> None:
        for watcher in tuple(self._watchers):
            watcher.on_event(event)

    def events(self) -> list[Event]:
        """The history so far (header first)."""
        trace = self.trace
        return list(trace.events) if trace is not None else []

    def now(self) -> float:
        backend = self.backend
        return backend.now() if backend is not None else 0.0

    def status(self) -> list[NodeStatus]:
        backend = self.backend
        return backend.status() if backend is not None else []

    def info(self) -> SessionInfo:
        sim = None if self.live else self._sim_or_none()
        return SessionInfo(
            backend="live" if self.live else "sim",
            seed=self.seed,
            scenario=self.base.name,
            explain=self.base.explain,
            nodes=self.base.cluster.names,
            speed=None if self.live else self.speed,
            paused=bool(sim is not None and sim.paused),
            generation=self.generation,
            capabilities={
                "pause": not self.live,
                "step": not self.live,
                "speed": not self.live,
                "branch": not self.live,
                "messages": self.messages,
                "timers": self.messages,
                "logs": self.messages,
            },
            extra=self.header_extra,
        )

    def lesson_steps(self) -> list[dict[str, Any]]:
        """The lesson's steps (time, action, prose) and whether each has run."""
        pending = {id(s) for s in self._pending_lesson}
        return [
            {**s.model_dump(mode="json", exclude_none=True), "done": id(s) not in pending}
            for s in self.lesson
        ]

    # --- commands -----------------------------------------------------------------

    def submit(self, command: dict[str, Any]) -> Future[CommandResult]:
        """Carry out a command; the future holds its result. A bad command is
        refused at once (a failed future with ``CommandError``)."""
        future: Future[CommandResult] = Future()
        try:
            if self.closed:
                raise SessionError("the session is closed")
            parsed = parse_command(command, self.base, self._stress)
            if isinstance(parsed, Control):
                future.set_result(self.control(parsed))
                return future
            if isinstance(parsed, LoadStep) and parsed.prefix.startswith("stress/"):
                self._stress += 1
        except (CommandError, SessionError, BackendError) as exc:
            future.set_exception(exc)
            return future
        self._jobs.put(_Job(parsed, future))
        return future

    def do(self, command: dict[str, Any], timeout: float | None = None) -> CommandResult:
        """``submit`` and wait for the result (raises ``CommandError`` for a bad command)."""
        return self.submit(command).result(timeout)

    def control(self, control: Control) -> CommandResult:
        if self.live:
            raise SessionError(f"{control.action}: real etcd runs in real time (simulator only)")
        sim = self._sim()
        if control.action == "pause":
            sim.pause()
            return CommandResult(True, "pause", "paused", self.now())
        if control.action == "resume":
            sim.resume()
            return CommandResult(True, "resume", "running", self.now())
        if control.action == "speed":
            assert control.value is not None
            self.speed = control.value
            sim.set_speed(control.value)
            return CommandResult(True, "speed", f"speed {control.value:g}x", self.now())
        if control.action == "step":
            return self._step_once()
        assert control.value is not None
        return self.branch(control.value)

    def _step_once(self) -> CommandResult:
        """Paused: run to the next thing worth seeing (a message, a vote, a role
        change...), at most one second of virtual time ahead."""
        sim = self._sim()
        if not sim.paused:
            sim.pause()
        seen = threading.Event()

        def interesting(event: Event) -> None:
            if event["kind"] not in ("status", "timer"):
                seen.set()

        assert self.trace is not None
        unsubscribe = self.trace.subscribe(interesting)
        try:
            start = sim.now()
            sim.run_until(start + 1.0, seen.is_set)
        finally:
            unsubscribe()
        return CommandResult(True, "step", f"stepped to t={sim.now():.6f}", sim.now())

    # --- the worker: one step at a time, in order ---------------------------------

    def _start_worker(self) -> None:
        self._worker = threading.Thread(target=self._work, name="etcdplay-play", daemon=True)
        self._worker.start()

    def _stop_worker(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            self._jobs.put(None)
            worker.join(timeout=30)

    def _work(self) -> None:
        while not self._closing.is_set():
            try:
                job = self._jobs.get(timeout=self._lesson_wait())
            except queue.Empty:
                job = self._due_lesson_job()
                if job is None:
                    continue
            if job is None:
                return
            self._run(job)

    def _lesson_wait(self) -> float:
        """Wall seconds until the next lesson step needs attention."""
        if not self._pending_lesson:
            return 0.5
        if not self.live and self._sim().paused:
            return 0.1
        ahead = self._pending_lesson[0].at - self.now()
        speed = 1.0 if self.live else self.speed
        return min(0.5, max(0.0, ahead / speed - _LESSON_LEAD))

    def _due_lesson_job(self) -> _Job | None:
        if not self._pending_lesson:
            return None
        step = self._pending_lesson[0]
        if not self.live and self._sim().paused:
            return None
        speed = 1.0 if self.live else self.speed
        if (step.at - self.now()) / speed > _LESSON_LEAD:
            return None
        self._pending_lesson.pop(0)
        return _Job(step, Future(), lesson=True)

    def _set_barrier(self) -> None:
        """Virtual time may not pass the next lesson step before it runs."""
        if not self.live:
            self._sim().set_barrier(self._pending_lesson[0].at if self._pending_lesson else None)

    def _run(self, job: _Job) -> None:
        if not job.future.set_running_or_notify_cancel():
            return
        try:
            job.future.set_result(self._execute(job.step, job.lesson))
        except BaseException as exc:  # the view shows it; the session keeps going
            job.future.set_exception(exc)

    def _execute(self, step: Any, lesson: bool) -> CommandResult:
        with self._state_lock:
            backend, runner = self.backend, self.runner
        if backend is None or runner is None or self.closed:
            raise SessionError("the session is closed")
        sim = None if self.live else self._sim()
        if sim is not None:
            sim.hold()  # virtual time stands still while we read it and act
        try:
            if sim is not None and lesson and step.at > sim.now():
                sim.run_to(step.at)  # a lesson step runs at its own time exactly
            at = backend.now()
            timed = step_with_time(step, at)
            self.played.append(timed)
            if lesson:
                self._set_barrier()  # on to the next lesson step
            result = runner.execute(timed)
        finally:
            if sim is not None:
                sim.release()
        return _describe(timed, at, result)

    # --- time travel --------------------------------------------------------------

    def branch(self, t: float) -> CommandResult:
        """Go back to virtual time ``t`` and continue from there: the simulation
        is re-run with the same seed and the steps played up to ``t``."""
        if self.live:
            raise SessionError("branch: real etcd cannot go back in time (simulator only)")
        now = self.now()
        if t > now:
            raise SessionError(f"branch: t={t:g} is in the future (now {now:.3f})")
        was_paused = self._sim().paused
        old = self._sim()
        old.close()  # a step in progress that waits on the clock gives up
        self._stop_worker()  # finishes or abandons the step in progress
        keep = [s for s in self.played if s.at <= t]
        from etcdplay.sim.backend import SimBackend

        backend = SimBackend(realtime_speed=None, trace_messages=self.messages)
        trace = TraceWriter(self._header(self.base), keep=True)
        runner = Runner(self.base, backend, self.seed, trace)
        runner.begin()
        for step in keep:
            runner.execute(step)
        backend.run_to(t)
        self.played = keep
        self._pending_lesson = [s for s in self.lesson if s.at > backend.now()]
        backend.set_speed(self.speed)
        self._install(backend, trace, runner)
        self._set_barrier()
        self.generation += 1
        if was_paused:
            backend.pause()
        backend.run_forever_in_thread()
        self._jobs = queue.Queue()
        if not self.closed:
            self._start_worker()
        for watcher in tuple(self._watchers):
            if watcher.on_reset is not None:
                watcher.on_reset()
        return CommandResult(
            True, "branch", f"branched at t={backend.now():.3f} with {len(keep)} step(s) kept", backend.now()
        )

    # --- saving -------------------------------------------------------------------

    def played_scenario(self) -> Scenario:
        """What was played, as a scenario that ``simulate`` and ``live`` replay."""
        name = self.base.name if self.base.name.startswith("played") else f"played-{self.base.name}"
        steps = list(self.played)
        end = self.now()
        if not steps or end > steps[-1].at:
            # the run goes on as long as the session did
            steps.append(WaitStep(action="wait", at=end, note="end of the played session"))
        return self.base.model_copy(update={"name": name, "steps": steps})

    def scenario_toml(self) -> str:
        data = self.played_scenario().to_dict()
        header = (
            f"# Played with etcdplay ({'real etcd' if self.live else 'simulator'}), seed {self.seed}.\n"
            f"# Replay: etcdplay simulate THIS.toml --seed {self.seed}   (or etcdplay live THIS.toml)\n"
        )
        return header + tomli_w.dumps(data)

    def trace_jsonl(self) -> str:
        """The history as a trace file: its header names the played scenario and
        seed, so ``etcdplay simulate --replay`` runs it again."""
        events = self.events()
        header = {"t": 0.0, "kind": "header", **_schema(events), **self._header(self.played_scenario())}
        lines = [encode(header)] + [encode(e) for e in events[1:]]
        return "\n".join(lines) + "\n"

    # --- helpers ------------------------------------------------------------------

    def _sim_or_none(self) -> Any:
        return None if self.live else self.backend

    def _sim(self) -> Any:
        """The SimBackend (typed loosely: it may be the compiled class)."""
        backend = self.backend
        if backend is None:
            raise SessionError("the session is not started")
        if not hasattr(backend, "hold"):
            raise SessionError("this backend has no simulated clock")
        return backend


def _schema(events: list[Event]) -> dict[str, Any]:
    return {"schema": events[0]["schema"]} if events else {}


def _describe(step: Any, at: float, result: object) -> CommandResult:
    action = step.action
    if isinstance(result, OpResult):
        op: dict[str, Any] = {
            "ok": result.ok,
            "latency_ms": round(result.latency * 1000, 3),
            "node": result.node,
            "key": step.key,
        }
        if action == "get" and result.ok:
            op["value"] = result.value
            found = result.value is not None
            message = f"{step.key} = {result.value!r}" if found else f"{step.key}: no such key"
        elif result.ok:
            message = f"{action} {step.key} ok"
        else:
            op["error"] = result.error
            message = f"{action} {step.key} failed: {result.error}"
        if result.ok:
            message += f" ({result.latency * 1000:.1f} ms, via {result.node})"
        return CommandResult(result.ok, action, message, at, op)
    target = getattr(step, "target", None)
    if isinstance(step, LoadStep):
        where = f" at {step.node}" if step.node else ""
        count = round(step.rate * step.duration)
        return CommandResult(True, "stress", f"stress: {count} writes{where} under {step.prefix}", at)
    what = f"{action} {', '.join(target) if isinstance(target, list) else target}" if target else action
    return CommandResult(True, action, what, at)


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` wall seconds pass (for
    views and tests waiting on the cluster)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
