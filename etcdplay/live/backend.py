"""LiveBackend: the Backend protocol on real etcd members started on this
machine (loopback only), with faults injected by signals and by the
FaultProxy on peer traffic.

Time: ``t = 0`` is the moment ``start`` launches the members (so the first
election is in the trace, as in the simulator); ``now`` is wall time since
then. Raft events come from etcd's log with etcd's own timestamps.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from etcdplay.backend import BackendError, NodeStatus, OpResult
from etcdplay.distributions import Distribution
from etcdplay.live.client import ClientError, MemberClient, timed
from etcdplay.live.etcd import (
    EtcdBinary,
    EtcdError,
    EtcdMember,
    RaftFlags,
    check_ports_free,
    find_etcd,
    free_port,
)
from etcdplay.live.observe import LogEvent, LogFollower, poll_status
from etcdplay.live.proxy import ProxyHub, Rule
from etcdplay.live.reaper import REAPER
from etcdplay.scenario import ClusterSpec, Scenario
from etcdplay.trace import TraceWriter


def raft_flags(cluster: ClusterSpec, binary: EtcdBinary) -> tuple[RaftFlags, list[str]]:
    """etcd flags for ``cluster`` and notes on what etcd cannot express."""
    notes: list[str] = []
    heartbeat = max(1, round(cluster.heartbeat_ms))
    if heartbeat != cluster.heartbeat_ms:
        notes.append(
            f"etcd takes whole milliseconds: heartbeat {cluster.heartbeat_ms:g} ms -> {heartbeat} ms"
        )
    if cluster.timer == "uniform":
        lo, hi = cluster.election_range_ms
        election = max(1, round(lo))
        notes.append(
            f"timer 'uniform' ([{lo:g}, {hi:g}] ms) has no etcd equivalent: etcd draws each "
            f"election timeout from [E, 2E) in heartbeat ticks; running with "
            f"--election-timeout={election} (timeouts in [{election}, {2 * election}) ms)"
        )
    else:
        election = max(1, round(float(cluster.election_timeout_ms)))  # type: ignore[arg-type]
    if election < 5 * heartbeat:
        raise BackendError(
            f"etcd needs --election-timeout ({election} ms) >= 5 x --heartbeat-interval "
            f"({heartbeat} ms); adjust cluster.election_timeout_ms or cluster.heartbeat_ms"
        )
    if not cluster.check_quorum:
        notes.append("check_quorum = false has no etcd flag: etcd always runs with CheckQuorum on")
    if cluster.disk_ms != "fixed(1)":
        notes.append(f"disk_ms = {cluster.disk_ms} is simulator only: live uses the real disk")
    return RaftFlags(heartbeat, election, cluster.pre_vote), notes


class LiveBackend:
    """Real etcd members, real faults. See docs/live.md."""

    name = "live"

    def __init__(
        self,
        etcd_bin: str | None = None,
        *,
        keep_data: bool = False,
        data_root: str | Path | None = None,
        use_proxy: bool = True,
        base_port: int | None = None,
        ready_timeout: float = 20.0,
    ) -> None:
        self.etcd_bin = etcd_bin
        self.keep_data = keep_data
        self.data_root = Path(data_root) if data_root else None
        self.use_proxy = use_proxy
        self.base_port = base_port
        self.ready_timeout = ready_timeout
        self.binary: EtcdBinary | None = None
        self.members: list[EtcdMember] = []
        self.dir: Path | None = None
        self.hub: ProxyHub | None = None
        self.trace: TraceWriter | None = None
        self.scenario: Scenario | None = None
        self.clients: dict[str, MemberClient] = {}
        self.names_by_id: dict[int, str] = {}
        self.roles: dict[str, str] = {}
        self.terms: dict[str, int] = {}
        self.db_sizes: dict[str, int] = {}  # member -> db size in bytes, from the last status poll
        self.leader_hint: str | None = None
        self.intended_down: set[str] = set()
        self.started_at = ""
        self.ready_after: float | None = None
        self.op_timeout = 2.0
        self._t0 = time.monotonic()
        self._wall0 = time.time()
        self._pool = ThreadPoolExecutor(max_workers=12, thread_name_prefix="etcdplay-poll")
        self._logs: LogFollower | None = None
        self._poller: threading.Thread | None = None
        self._stopping = threading.Event()
        self._blackholes: set[tuple[str, str]] = set()
        self._delays: dict[tuple[str, str], Distribution] = {}
        self._load_threads: list[threading.Thread] = []
        self._key_seq = 0
        self._lock = threading.RLock()
        self._closed = False
        self._urls: dict[str, str] = {}
        self._reported_exit: set[tuple[str, int]] = set()

    # --- set-up ---------------------------------------------------------------

    def resolve_binary(self) -> EtcdBinary:
        if self.binary is None:
            self.binary = find_etcd(self.etcd_bin)
        return self.binary

    def header_fields(self) -> dict[str, Any]:
        """What live traces add to the header (docs/trace-format.md)."""
        binary = self.resolve_binary()
        return {
            "etcd_version": binary.version_text,
            "etcd_bin": binary.path,
            "started_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }

    def start(self, scenario: Scenario, trace: TraceWriter, seed: int) -> None:
        binary = self.resolve_binary()
        self.scenario, self.trace = scenario, trace
        cluster = scenario.cluster
        flags, notes = raft_flags(cluster, binary)
        self.op_timeout = max(1.0, 5 * flags.election_timeout_ms / 1000)
        names = cluster.names
        ports: list[int]
        if self.base_port is not None:
            ports = list(range(self.base_port, self.base_port + 2 * len(names)))
            check_ports_free(ports, f"--base-port {self.base_port}")
        else:
            ports = []
            while len(ports) < 2 * len(names):
                port = free_port()
                if port not in ports:
                    ports.append(port)
        try:
            if self.data_root is not None:
                self.data_root.mkdir(parents=True, exist_ok=True)
            self.dir = Path(tempfile.mkdtemp(prefix="etcdplay-live-", dir=self.data_root))
        except OSError as exc:
            where = f"--data-dir {self.data_root}" if self.data_root is not None else "the temp directory"
            raise EtcdError(f"{where}: cannot create the run's directory ({exc.strerror or exc})") from None
        if not self.keep_data:
            REAPER.watch_dir(self.dir)  # removed even if etcdplay is SIGKILLed
        self._t0, self._wall0 = time.monotonic(), time.time()
        self.started_at = datetime.now(UTC).isoformat(timespec="milliseconds")
        if self.use_proxy:
            self.hub = ProxyHub(seed)
            self.hub.bootstrapping = True
        advertised: dict[str, int] = {}
        for i, name in enumerate(names):
            peer = ports[2 * i + 1]
            advertised[name] = self.hub.add(name, peer).port if self.hub else peer
        initial = ",".join(f"{n}=http://127.0.0.1:{advertised[n]}" for n in names)
        token = f"etcdplay-{secrets.token_hex(4)}"
        for i, name in enumerate(names):
            member = EtcdMember(
                name,
                binary,
                self.dir,
                client_port=ports[2 * i],
                peer_port=ports[2 * i + 1],
                advertised_peer_port=advertised[name],
                initial_cluster=initial,
                cluster_token=token,
                raft=flags,
            )
            self.members.append(member)
            self._urls[member.peer_url] = name
            self.clients[name] = MemberClient(*member.client_endpoint, timeout=self.op_timeout)
        trace.emit(
            self.now(),
            "note",
            text=(
                f"etcd {binary.version_text} ({binary.path}): --heartbeat-interval="
                f"{flags.heartbeat_ms} --election-timeout={flags.election_timeout_ms} "
                f"--pre-vote={str(flags.pre_vote).lower()}; data in {self.dir}"
                + ("" if self.use_proxy else "; no fault proxy (network faults unavailable)")
            ),
        )
        for note in notes:
            trace.emit(self.now(), "note", text=note)
        self._logs = LogFollower(self.members, self._on_log_event)
        self._logs.start()
        for member in self.members:
            member.start()
        self._wait_ready()
        self.ready_after = self.now()
        if self.hub is not None:
            self.hub.bootstrapping = False
        trace.emit(
            self.ready_after,
            "note",
            text=f"cluster ready: {len(names)} members serving, {self.leader_hint} leads",
            ready_after=round(self.ready_after, 6),
        )
        self._poller = threading.Thread(target=self._poll_loop, name="etcdplay-status", daemon=True)
        self._poller.start()

    def _wait_ready(self) -> None:
        """Every member serves clients and knows the same leader."""
        deadline = time.monotonic() + self.ready_timeout
        while True:
            for member in self.members:
                problem = member.startup_problem()
                if problem is not None:
                    raise EtcdError(member.describe_failure(problem))
            statuses = self._probe(with_hash=False)
            leaders = {s.leader for s in statuses}
            if all(s.term is not None for s in statuses) and len(leaders) == 1 and None not in leaders:
                self.leader_hint = leaders.pop()
                return
            if time.monotonic() > deadline:
                waiting = [s.name for s in statuses if s.term is None or s.leader is None]
                member = next((m for m in self.members if m.name in waiting), self.members[0])
                raise EtcdError(
                    member.describe_failure(
                        f"no leader after {self.ready_timeout:g} s "
                        f"(members not ready: {', '.join(waiting) or 'none, but they disagree'})"
                    )
                )
            time.sleep(0.02)

    # --- observation ------------------------------------------------------------

    def _name_of(self, member_id: str | None) -> str | None:
        if member_id is None:
            return None
        return self.names_by_id.get(int(member_id, 16))

    def _learn(self, member_id: str, name: str) -> None:
        self.names_by_id[int(member_id, 16)] = name
        if self.hub is not None:
            self.hub.learn(member_id, name)

    def _on_log_event(self, member: str, event: LogEvent) -> None:
        trace = self.trace
        f = event.fields
        identity = event.kind in ("member-id", "peer")
        if not identity and (trace is None or self._stopping.is_set()):
            return
        if event.kind == "member-id":
            self._learn(f["id"], member)
            return
        if event.kind == "peer":
            for url in f["urls"]:
                if url in self._urls:
                    self._learn(f["id"], self._urls[url])
            return
        assert trace is not None
        if int(f["id"], 16) not in self.names_by_id:
            self._learn(f["id"], member)
        t = event.ts - self._wall0 if event.ts is not None else self.now()
        extra = {"etcd_ts": event.etcd_ts} if event.etcd_ts else {}
        if event.kind == "role":
            self.roles[member], self.terms[member] = f["role"], f["term"]
            trace.emit(t, "role", member, role=f["role"], term=f["term"], **extra)
        elif event.kind == "leader":
            leader = self._name_of(f["leader"]) or f["leader"]
            if leader is not None:
                self.leader_hint = leader
            trace.emit(t, "leader", member, leader=leader, term=f["term"], **extra)
        elif event.kind == "vote":
            candidate = self._name_of(f["candidate"]) or f["candidate"]
            fields = {
                "candidate": candidate,
                "term": f["term"],
                "granted": f["granted"],
                "pre_vote": f["pre_vote"],
            }
            if f["ignored"]:
                fields["ignored"] = True
            trace.emit(t, "vote", member, **fields, **extra)

    def _probe(self, with_hash: bool = True) -> list[NodeStatus]:
        timeout = min(1.0, max(0.2, self.op_timeout / 4))
        statuses, _common = poll_status(
            self.members,
            self.clients,
            self.names_by_id,
            self.roles,
            self.terms,
            self._pool,
            timeout,
            with_hash,
            self.db_sizes,
        )
        for s in statuses:
            if s.role == "leader":
                self.leader_hint = s.name
        return statuses

    def _poll_loop(self) -> None:
        assert self.scenario is not None and self.trace is not None
        interval = self.scenario.status_interval
        next_at = time.monotonic()
        while not self._stopping.is_set():
            try:
                self.emit_status()
            except Exception as exc:
                if not self._stopping.is_set():
                    self.trace.emit(self.now(), "note", text=f"status poll failed: {exc}")
            next_at += interval
            delay = next_at - time.monotonic()
            if delay < 0:
                next_at = time.monotonic()
                delay = 0
            self._stopping.wait(delay)

    def emit_status(self) -> list[NodeStatus]:
        """Poll every member and write one ``status`` event each."""
        assert self.trace is not None
        t = self.now()
        statuses = self._probe(with_hash=True)
        for s in statuses:
            size = self.db_sizes.get(s.name) if s.running else None
            extra = {"db_size": size} if size is not None else {}
            self.trace.emit(t, "status", s.name, **s.as_fields(), **extra)
        for member in self.members:
            code = member.exit_code
            if code is not None and member.name not in self.intended_down:
                key = (member.name, member.starts)
                if key not in self._reported_exit:
                    self._reported_exit.add(key)
                    last = member.log_tail(1)
                    self.trace.emit(
                        t,
                        "note",
                        member.name,
                        text=f"{member.name} exited by itself (code {code}): {last[-300:]}",
                    )
        return statuses

    # --- Backend protocol ---------------------------------------------------------

    def now(self) -> float:
        return time.monotonic() - self._t0

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def sleep_until(self, t: float) -> None:
        self.sleep(t - self.now())

    def nodes(self) -> list[str]:
        return [m.name for m in self.members]

    def status(self) -> list[NodeStatus]:
        return self._probe(with_hash=True)

    def _members(self, names: Sequence[str]) -> list[EtcdMember]:
        by_name = {m.name: m for m in self.members}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise BackendError(f"no such member(s): {', '.join(unknown)}")
        return [by_name[n] for n in names]

    def _went_down(self, member: EtcdMember) -> None:
        self.intended_down.add(member.name)
        self.roles[member.name] = "down"
        if self.trace is not None:
            self.trace.emit(self.now(), "role", member.name, role="down", term=self.terms.get(member.name))
        if self.leader_hint == member.name:
            self.leader_hint = None

    def crash(self, nodes: Sequence[str]) -> None:
        for member in self._members(nodes):
            if member.running:
                member.kill()
                self._went_down(member)

    def stop(self, nodes: Sequence[str]) -> None:
        chosen = [m for m in self._members(nodes) if m.running]
        list(self._pool.map(lambda m: m.stop(), chosen))
        for member in chosen:
            self._went_down(member)

    def restart(self, nodes: Sequence[str]) -> None:
        for member in self._members(nodes):
            if not member.running:
                self.intended_down.discard(member.name)
                member.restart()

    def _require_proxy(self, what: str) -> ProxyHub:
        if self.hub is None:
            raise BackendError(f"{what} needs the fault proxy, which this run was started without")
        return self.hub

    def _apply_rules(self) -> None:
        hub = self._require_proxy("a network fault")
        rules: dict[tuple[str, str], Rule] = {}
        for pair, dist in self._delays.items():
            rules[pair] = Rule(delay=dist)
        for pair in self._blackholes:
            rules[pair] = Rule(blackhole=True)
        hub.set_rules(rules)

    def partition(self, groups: Sequence[Sequence[str]]) -> None:
        names = self.nodes()
        resolved = [list(dict.fromkeys(g)) for g in groups]
        named = {n for g in resolved for n in g}
        self._members(sorted(named))
        rest = [n for n in names if n not in named]
        if rest:
            resolved.append(rest)
        side = {n: i for i, g in enumerate(resolved) for n in g}
        self._blackholes = {(a, b) for a in names for b in names if a != b and side[a] != side[b]}
        self._apply_rules()

    def heal(self) -> None:
        self._blackholes.clear()
        self._delays.clear()
        if self.hub is not None:
            self.hub.heal()

    def delay(self, nodes: Sequence[str], latency: Distribution) -> None:
        chosen = {m.name for m in self._members(nodes)}
        for a in self.nodes():
            for b in self.nodes():
                if a != b and (a in chosen or b in chosen):
                    self._delays[(a, b)] = latency
        self._apply_rules()

    # client operations ------------------------------------------------------------

    def _serving_order(self, node: str | None = None) -> list[EtcdMember]:
        """The member asked for (``node``, when running), else the leader first
        (as last seen), then every other running member."""
        if node is not None:
            return [m for m in self._members([node]) if m.running]
        running = [m for m in self.members if m.running]
        running.sort(key=lambda m: m.name != self.leader_hint)
        return running

    def _op(self, op: str, key: str, value: str | None, source: str, node: str | None = None) -> OpResult:
        order = self._serving_order(node)
        if not order:
            why = f"{node} is not running" if node is not None else "no member is running"
            result = OpResult(ok=False, latency=0.0, error=why, node=node)
        else:
            member = order[0]
            client = self.clients[member.name]
            if op == "put":
                out, latency, error = timed(client.put, key, value or "")
                result = OpResult(error is None, latency, value, error, member.name)
            elif op == "get":
                out, latency, error = timed(client.get, key)
                result = OpResult(error is None, latency, out, error, member.name)
            else:
                out, latency, error = timed(client.delete, key)
                result = OpResult(error is None, latency, None, error, member.name)
        self._record(op, key, value, result, source)
        return result

    def _record(self, op: str, key: str, value: str | None, result: OpResult, source: str) -> None:
        if self.trace is None:
            return
        fields: dict[str, Any] = {
            "op": op,
            "key": key,
            "ok": result.ok,
            "latency": round(result.latency, 6),
            "source": source,
        }
        if op == "put":
            fields["value"] = value
        elif op == "get" and result.ok:
            fields["value"] = result.value  # None: no such key
        if result.error is not None:
            fields["error"] = result.error
        self.trace.emit(self.now(), "client", result.node, **fields)

    def put(self, key: str, value: str, node: str | None = None) -> OpResult:
        return self._op("put", key, value, "step", node)

    def get(self, key: str, node: str | None = None) -> OpResult:
        return self._op("get", key, None, "step", node)

    def delete(self, key: str, node: str | None = None) -> OpResult:
        return self._op("delete", key, None, "step", node)

    def start_load(self, rate: float, duration: float, prefix: str, node: str | None = None) -> None:
        if node is not None:
            self._members([node])
        thread = threading.Thread(
            target=self._load, args=(rate, duration, prefix, node), name="etcdplay-load", daemon=True
        )
        self._load_threads.append(thread)
        thread.start()

    def _load(self, rate: float, duration: float, prefix: str, node: str | None = None) -> None:
        assert self.trace is not None
        self.trace.emit(self.now(), "load", phase="start", rate=rate, duration=duration, prefix=prefix)
        counts: dict[str, Any] = {"sent": 0, "acked": 0, "failed": 0}
        lock = threading.Lock()
        all_done = threading.Condition(lock)
        outstanding = [0]

        def write(key: str, value: str) -> None:
            # Open loop, as a load tool should be: each write starts on schedule
            # whatever earlier ones are doing (a write forwarded to a leader that
            # just died waits out its timeout without holding the others back).
            order = self._serving_order(node)
            if not order:
                error = f"{node} is not running" if node is not None else "no member is running"
                self._record("put", key, value, OpResult(False, 0.0, error=error, node=node), "load")
                with lock:
                    counts["failed"] += 1
                return
            member = order[0]
            began = time.perf_counter()

            def done(error: str | None) -> None:
                result = OpResult(error is None, time.perf_counter() - began, value, error, member.name)
                self._record("put", key, value, result, "load")
                with all_done:
                    counts["acked" if error is None else "failed"] += 1
                    outstanding[0] -= 1
                    all_done.notify_all()

            with lock:
                outstanding[0] += 1
            self.clients[member.name].put_async(key, value, done)

        began = time.monotonic()
        total = max(1, round(rate * duration))
        for i in range(total):
            at = began + i / rate
            if self._stopping.wait(max(0.0, at - time.monotonic())):
                break
            with self._lock:
                self._key_seq += 1
                seq = self._key_seq
            counts["sent"] += 1
            write(f"{prefix}{seq:07d}", f"v{seq}")
        with all_done:
            all_done.wait_for(lambda: outstanding[0] == 0 or self._stopping.is_set(), self.op_timeout + 2)
        self.trace.emit(
            self.now(), "load", phase="end", rate=rate, duration=duration, prefix=prefix, **counts
        )

    def load_running(self) -> bool:
        return any(t.is_alive() for t in self._load_threads)

    def read_all(self, prefix: str) -> dict[str, str] | None:
        for member in self._serving_order():
            try:
                return self.clients[member.name].get_prefix(prefix)
            except ClientError:
                continue
        return None

    # --- teardown ----------------------------------------------------------------------

    def pids(self) -> list[int]:
        return [m.pid for m in self.members if m.running and m.pid is not None]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # A second Ctrl-C must not cut the teardown short.
        shielded: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(ValueError, TypeError):
                    shielded[sig] = signal.signal(sig, signal.SIG_IGN)
        try:
            self._teardown()
        finally:
            for signum, old in shielded.items():
                signal.signal(signum, old)

    def _teardown(self) -> None:
        self._stopping.set()
        for thread in self._load_threads:
            thread.join(self.op_timeout + 2)
        if self._poller is not None:
            self._poller.join(10)
        # SIGTERM all at once, SIGKILL whoever is slow.
        with contextlib.suppress(Exception):
            list(self._pool.map(lambda m: m.stop(timeout=3.0), self.members))
        for member in self.members:
            member.kill()
        if self._logs is not None:
            with contextlib.suppress(Exception):
                self._logs.stop()
        if self.hub is not None:
            self.hub.close()
        for client in self.clients.values():
            client.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.dir is not None and not self.keep_data:
            shutil.rmtree(self.dir, ignore_errors=True)
            REAPER.forget_dir(self.dir)

    def __enter__(self) -> LiveBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
