"""LiveBackend: the Backend protocol on real etcd members started on this
machine (loopback only), with faults injected by signals and by the
FaultProxy on peer traffic.

Time: ``t = 0`` is the moment ``start`` launches the members (so the first
election is in the trace, as in the simulator); ``now`` is wall time since
then. Raft events come from etcd's log with etcd's own timestamps.
"""

from __future__ import annotations

import contextlib
import random
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
from typing import TYPE_CHECKING, Any

from etcdplay.backend import BackendError, NodeStatus, OpResult
from etcdplay.distributions import Distribution
from etcdplay.live.client import ClientError, MemberClient, timed
from etcdplay.live.etcd import (
    EtcdBinary,
    EtcdError,
    EtcdMember,
    Member,
    RaftFlags,
    check_ports_free,
    find_etcd,
    reserved_ports,
)
from etcdplay.live.observe import LogEvent, LogFollower, poll_status
from etcdplay.live.proxy import FaultHub, Rule
from etcdplay.live.proxyproc import ProxyProcess
from etcdplay.live.reaper import REAPER
from etcdplay.live.workload import LiveWorkload
from etcdplay.scenario import ClusterSpec, Scenario, WorkloadStep
from etcdplay.trace import TraceWriter
from etcdplay.workload import etcd_flag_args

if TYPE_CHECKING:
    from etcdplay.agent.options import AgentOptions
    from etcdplay.agent.remote import Fleet


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
        # The scenario validated (one validation for both backends): etcd's
        # rule is met by shortening the heartbeat (the paper's timer, or
        # whole-millisecond rounding, can leave it too long), not by refusing.
        adjusted = max(1, election // 5)
        election = max(election, 5 * adjusted)
        notes.append(
            f"etcd needs --election-timeout >= 5 x --heartbeat-interval: heartbeat {heartbeat} ms -> "
            f"{adjusted} ms (election timeout {election} ms)"
        )
        heartbeat = adjusted
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
        agents: AgentOptions | None = None,
    ) -> None:
        self.etcd_bin = etcd_bin
        self.keep_data = keep_data
        self.data_root = Path(data_root) if data_root else None
        self.use_proxy = use_proxy
        self.base_port = base_port
        self.ready_timeout = ready_timeout
        self.binary: EtcdBinary | None = None
        self.members: list[Member] = []
        self.dir: Path | None = None
        self.hub: FaultHub | None = None
        # Members on other machines, each run by an `etcdplay agent` (docs/agent.md).
        self.fleet: Fleet | None = None
        if agents is not None:
            from etcdplay.agent.remote import Fleet

            self.fleet = Fleet(agents)
        self.trace: TraceWriter | None = None
        self.scenario: Scenario | None = None
        self.clients: dict[str, MemberClient] = {}
        self.names_by_id: dict[int, str] = {}
        self.roles: dict[str, str] = {}
        self.terms: dict[str, int] = {}
        self.leader_hint: str | None = None
        self._hash_revision: int | None = None
        self._extra_args: list[str] = []  # the scenario's etcd_flags as arguments
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
        self.kept_remote: list[str] = []  # agent:dir of data kept on agents (keep_data)

    # --- set-up ---------------------------------------------------------------

    def resolve_binary(self) -> EtcdBinary:
        if self.binary is None:
            self.binary = self.fleet.binary() if self.fleet is not None else find_etcd(self.etcd_bin)
        return self.binary

    def header_fields(self) -> dict[str, Any]:
        """What live traces add to the header (docs/trace-format.md)."""
        binary = self.resolve_binary()
        fields: dict[str, Any] = {
            "etcd_version": binary.version_text,
            "etcd_bin": binary.path,
            "started_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
        if self.fleet is not None:
            fields["agents"] = self.fleet.header()
        return fields

    def start(self, scenario: Scenario, trace: TraceWriter, seed: int) -> None:
        binary = self.resolve_binary()
        self.scenario, self.trace = scenario, trace
        cluster = scenario.cluster
        flags, notes = raft_flags(cluster, binary)
        try:
            self._extra_args = etcd_flag_args(cluster.etcd_flags)
        except ValueError as exc:
            raise BackendError(str(exc)) from None
        if self._extra_args:
            if self.fleet is not None:
                # an agent runs etcd only with the flags it knows (docs/agent.md)
                raise BackendError(
                    "cluster.etcd_flags: not supported with --agents (agents pass known flags only)"
                )
            notes.append("etcd flags from the scenario: " + " ".join(self._extra_args))
        self.op_timeout = max(1.0, 5 * flags.election_timeout_ms / 1000)
        names = cluster.names
        token = f"etcdplay-{secrets.token_hex(4)}"
        if self.fleet is not None:
            members, self.hub = self.fleet.create(
                names, flags, seed, use_proxy=self.use_proxy, keep_data=self.keep_data, cluster_token=token
            )
            self.members = list(members)
            self._t0, self._wall0 = time.monotonic(), time.time()  # t = 0: members about to start
            self.started_at = datetime.now(UTC).isoformat(timespec="milliseconds")
            where = f"members on agents {', '.join(a.name for a in self.fleet.used)}"
        else:
            self._create_local_members(names, flags, seed, token)
            where = f"data in {self.dir}"
        for member in self.members:
            self._urls[member.peer_url] = member.name
            self.clients[member.name] = MemberClient(*member.client_endpoint, timeout=self.op_timeout)
        trace.emit(
            self.now(),
            "note",
            text=(
                f"etcd {binary.version_text} ({binary.path}): --heartbeat-interval="
                f"{flags.heartbeat_ms} --election-timeout={flags.election_timeout_ms} "
                f"--pre-vote={str(flags.pre_vote).lower()}; {where}"
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
        if self.fleet is not None:
            self._note_clocks("at start")
        self._poller = threading.Thread(target=self._poll_loop, name="etcdplay-status", daemon=True)
        self._poller.start()

    def _create_local_members(self, names: list[str], flags: RaftFlags, seed: int, token: str) -> None:
        """Members on this machine: ports, the run directory, proxies (not started yet)."""
        ports: list[int]
        with contextlib.ExitStack() as held:
            if self.base_port is not None:
                ports = list(range(self.base_port, self.base_port + 2 * len(names)))
                check_ports_free(ports, f"--base-port {self.base_port}")
            else:
                # Held bound until the proxies have bound port 0, so no proxy gets an etcd port.
                ports = held.enter_context(reserved_ports(2 * len(names)))
            self._create_local_members_on(names, flags, seed, token, ports)

    def _create_local_members_on(
        self, names: list[str], flags: RaftFlags, seed: int, token: str, ports: list[int]
    ) -> None:
        binary = self.resolve_binary()
        try:
            if self.data_root is not None:
                self.data_root.mkdir(parents=True, exist_ok=True)
            self.dir = Path(tempfile.mkdtemp(prefix="etcdplay-live-", dir=self.data_root))
        except OSError as exc:
            where = f"--data-dir {self.data_root}" if self.data_root is not None else "the temp directory"
            raise EtcdError(f"{where}: cannot create the run's directory ({exc.strerror or exc})") from None
        if not self.keep_data:
            REAPER.watch_dir(self.dir)  # removed even if etcdplay is SIGKILLed
        hub: ProxyProcess | None = None
        if self.use_proxy:
            self.hub = hub = ProxyProcess(seed)
            hub.bootstrapping = True
            # Wait until it runs (a new Python starting): t = 0 is when the members
            # start, and a scenario's steps count from there.
            hub.connection_count()
        self._t0, self._wall0 = time.monotonic(), time.time()
        self.started_at = datetime.now(UTC).isoformat(timespec="milliseconds")
        advertised: dict[str, int] = {}
        for i, name in enumerate(names):
            peer = ports[2 * i + 1]
            advertised[name] = hub.add(name, peer).port if hub else peer
        initial = ",".join(f"{n}=http://127.0.0.1:{advertised[n]}" for n in names)
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
            member.extra_args = self._extra_args  # later flags win: these override etcdplay's defaults
            self.members.append(member)

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
            if self.fleet is not None:
                self.fleet.raise_if_lost()
            time.sleep(0.02)

    def _note_clocks(self, when: str) -> None:
        """Each agent's clock offset (its wall clock minus ours) and error bound, as a note."""
        assert self.fleet is not None and self.trace is not None
        clocks = self.fleet.clocks()
        text = "; ".join(
            f"{c['address']} ({', '.join(c['members'])}): {c['clock_offset_ms']:+.3f} ms "
            f"± {c['clock_error_ms']} ms"
            for c in clocks
        )
        self.trace.emit(self.now(), "note", text=f"agent clocks {when}: {text}", agents=clocks)

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
        # Remote members log on their machine's clock: subtract its offset (docs/agent.md).
        offset = getattr(self._by_name.get(member), "clock_offset", 0.0)
        t = event.ts - offset - self._wall0 if event.ts is not None else self.now()
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
        statuses, common = poll_status(
            self.members,
            self.clients,
            self.names_by_id,
            self.roles,
            self.terms,
            self._pool,
            timeout,
            with_hash,
        )
        for s in statuses:
            if s.role == "leader":
                self.leader_hint = s.name
        self._hash_revision = common if with_hash else None
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
        # the revision every hash of this round was taken at (HashKV), for the
        # no-divergence check: members must agree at a revision they all have
        at = {"hash_revision": self._hash_revision} if self._hash_revision is not None else {}
        for s in statuses:
            self.trace.emit(t, "status", s.name, **s.as_fields(), **(at if s.hash is not None else {}))
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
        fleet = self.fleet
        if fleet is None:
            if seconds > 0:
                time.sleep(seconds)
            return
        # A lost agent ends the run at the next wait, with its name in the error.
        if seconds > 0:
            fleet.lost.wait(seconds)
        fleet.raise_if_lost()

    def sleep_until(self, t: float) -> None:
        self.sleep(t - self.now())

    def nodes(self) -> list[str]:
        return [m.name for m in self.members]

    def status(self) -> list[NodeStatus]:
        return self._probe(with_hash=True)

    @property
    def _by_name(self) -> dict[str, Member]:
        return {m.name: m for m in self.members}

    def _members(self, names: Sequence[str]) -> list[Member]:
        by_name = {m.name: m for m in self.members}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise BackendError(f"no such member(s): {', '.join(unknown)}")
        return [by_name[n] for n in names]

    def _went_down(self, member: Member) -> None:
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

    def _require_proxy(self, what: str) -> FaultHub:
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

    def _serving_order(self, node: str | None = None) -> list[Member]:
        """The member asked for (``node``, when running), else the leader first
        (as last seen), then every other running member."""
        if node is not None:
            return [m for m in self._members([node]) if m.running]
        running = [m for m in self.members if m.running]
        running.sort(key=lambda m: m.name != self.leader_hint)
        return running

    def _op(self, op: str, key: str, value: str | None, source: str, node: str | None = None) -> OpResult:
        invoked = self.now()  # before the request leaves: the window must contain it
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
        self._record(op, key, value, result, source, invoked)
        return result

    def _record(
        self,
        op: str,
        key: str,
        value: str | None,
        result: OpResult,
        source: str,
        invoked: float | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if self.trace is None:
            return
        now = self.now()
        fields: dict[str, Any] = {
            "op": op,
            "key": key,
            "invoked": round(invoked if invoked is not None else now - result.latency, 6),
            "ok": result.ok,
            "latency": round(result.latency, 6),
            "source": source,
        }
        if op in ("put", "txn"):
            fields["value"] = value
        elif op == "get" and result.ok:
            fields["value"] = result.value  # None: no such key
        if result.error is not None:
            fields["error"] = result.error
        if extra:
            fields.update(extra)
        self.trace.emit(now, "client", result.node, **fields)

    def put(self, key: str, value: str, node: str | None = None) -> OpResult:
        return self._op("put", key, value, "step", node)

    def get(self, key: str, node: str | None = None) -> OpResult:
        return self._op("get", key, None, "step", node)

    def delete(self, key: str, node: str | None = None) -> OpResult:
        return self._op("delete", key, None, "step", node)

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
        if node is not None:
            self._members([node])
        thread = threading.Thread(
            target=self._load,
            args=(rate, duration, prefix, node, keys, deletes),
            name="etcdplay-load",
            daemon=True,
        )
        self._load_threads.append(thread)
        thread.start()

    def _load(
        self,
        rate: float,
        duration: float,
        prefix: str,
        node: str | None = None,
        keys: int = 0,
        deletes: float = 0.0,
    ) -> None:
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
            invoked = self.now()
            began = time.perf_counter()

            def done(error: str | None) -> None:
                result = OpResult(error is None, time.perf_counter() - began, value, error, member.name)
                self._record("put", key, value, result, "load", invoked)
                with all_done:
                    counts["acked" if error is None else "failed"] += 1
                    outstanding[0] -= 1
                    all_done.notify_all()

            with lock:
                outstanding[0] += 1
            self.clients[member.name].put_async(key, value, done)

        def delete(key: str) -> None:
            # the load's deletes (keys/deletes: overwrites and deletes whose
            # final values the final-values check verifies), each on a thread
            def run() -> None:
                result = self._op("delete", key, None, "load", node)
                with all_done:
                    counts["acked" if result.ok else "failed"] += 1
                    outstanding[0] -= 1
                    all_done.notify_all()

            with lock:
                outstanding[0] += 1
            threading.Thread(target=run, name="etcdplay-load-delete", daemon=True).start()

        which = random.Random(f"etcdplay-load:{prefix}")  # which writes are deletes

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
            key = f"{prefix}{seq % keys if keys else seq:07d}"
            if deletes and which.random() < deletes:
                delete(key)
            else:
                write(key, f"v{seq}")
        with all_done:
            all_done.wait_for(lambda: outstanding[0] == 0 or self._stopping.is_set(), self.op_timeout + 2)
        self.trace.emit(
            self.now(), "load", phase="end", rate=rate, duration=duration, prefix=prefix, **counts
        )

    def start_workload(self, step: WorkloadStep, seed: int) -> None:
        """The ``workload`` step's clients, in threads (etcdplay.live.workload)."""
        if step.node is not None:
            self._members([step.node])
        workload = LiveWorkload(self, step, seed)
        self._load_threads.append(workload.thread)
        workload.start()

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
        # A Ctrl-C must not cut the teardown short, nor be lost: one that
        # arrives now is remembered and raised once every member is stopped
        # (ignoring it let an interrupted run report success, exit 0).
        shielded: dict[int, Any] = {}
        caught: list[int] = []

        def remember(signum: int, _frame: object) -> None:
            caught.append(signum)

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(ValueError, TypeError):
                    shielded[sig] = signal.signal(sig, remember)
        try:
            self._teardown()
        finally:
            for signum, old in shielded.items():
                signal.signal(signum, old)
        if caught and shielded.get(caught[0]) != signal.SIG_IGN:
            raise KeyboardInterrupt(f"signal {caught[0]} during teardown")

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
            with contextlib.suppress(BackendError):  # an agent that is gone (docs/agent.md)
                member.kill()
        if self._logs is not None:
            with contextlib.suppress(Exception):
                self._logs.stop()
        if self.hub is not None:
            self.hub.close()
        if self.fleet is not None:
            with contextlib.suppress(Exception):
                self.kept_remote = self.fleet.close()
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
