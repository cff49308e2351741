"""Members on other machines, behind the same ``Member`` interface as local ones.

``Fleet`` is a controller's set of agents for one cluster: it places member
``i`` on agent ``i mod N``, creates a run on every agent used, renews their
leases (the heartbeat, which also samples each agent's clock), and ends the
runs at close. ``RemoteMember`` is one member there: start/kill/stop/restart
are requests to its agent, its log is fetched by long polls into a local
buffer that ``observe.LogFollower`` reads as it reads a local log file, and
its ``clock_offset`` lets ``LiveBackend`` put the log's timestamps on the
controller's clock. ``RemoteFaults`` sends the fault rules to every agent's
proxies.

When an agent stops answering, the fleet records one ``AgentError`` naming
it; ``LiveBackend`` raises it at its next wait, and the run ends cleanly.
"""

from __future__ import annotations

import atexit
import contextlib
import re
import secrets
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from etcdplay.agent.api import API_VERSION
from etcdplay.agent.client import AgentClient
from etcdplay.agent.options import AgentError, AgentOptions
from etcdplay.distributions import Distribution
from etcdplay.live.etcd import EtcdBinary, RaftFlags
from etcdplay.live.proxy import Rule

#: A log long poll waits at most this long for new bytes, so threads stop quickly.
LOG_WAIT = 1.0
#: Clock samples taken back to back when a run is created.
CLOCK_BURST = 8

_T = TypeVar("_T")
_R = TypeVar("_R")


def _parallel(fn: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
    """``fn`` on every item at once; the first error (in item order) is raised."""
    if len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=len(items), thread_name_prefix="etcdplay-agent") as pool:
        futures = [pool.submit(fn, item) for item in items]
    return [f.result() for f in futures]


def _distribution_text(dist: Distribution) -> str:
    return f"{dist.kind}({','.join(repr(p) for p in dist.params)})"


class RemoteMember:
    """One etcd member run by an agent."""

    def __init__(self, name: str, agent: AgentClient, run: str, host: str, client_port: int, peer_url: str):
        self.name = name
        self.agent = agent
        self._run = run
        self._path = f"/runs/{run}/members/{name}"
        self._host = host
        self._client_port = client_port
        self._peer_url = peer_url
        self._state: dict[str, Any] = {"running": False, "pid": None, "exit_code": None, "starts": 0}
        self.lost = False  # its agent stopped answering
        self._log = bytearray()
        self._log_lock = threading.Lock()
        self._closed = threading.Event()
        self._log_thread = threading.Thread(target=self._fetch_log, name=f"etcdplay-log-{name}", daemon=True)
        self.log_path = f"{agent.name}:(run {run}) {name}/etcd.log"

    # Member interface -------------------------------------------------------------

    @property
    def client_endpoint(self) -> tuple[str, int]:
        return (self._host, self._client_port)

    @property
    def peer_url(self) -> str:
        return self._peer_url

    @property
    def running(self) -> bool:
        return bool(self._state.get("running"))

    @property
    def pid(self) -> int | None:
        pid = self._state.get("pid")
        return int(pid) if isinstance(pid, int) else None

    @property
    def exit_code(self) -> int | None:
        code = self._state.get("exit_code")
        return int(code) if isinstance(code, int) else None

    @property
    def starts(self) -> int:
        return int(self._state.get("starts") or 0)

    @property
    def clock_offset(self) -> float:
        """The agent's wall clock minus the controller's, in seconds."""
        return self.agent.clock.offset

    def update(self, state: dict[str, Any]) -> None:
        self._state = dict(state)

    def _action(self, action: str, body: dict[str, Any] | None = None, timeout: float = 15.0) -> None:
        state = self.agent.json(
            "POST", f"{self._path}/{action}", json=body or {}, timeout=timeout, what=f"{action} {self.name}"
        )
        self.update(state)

    def start(self) -> None:
        self._action("start")
        if not self._log_thread.is_alive() and not self._closed.is_set():
            self._log_thread.start()

    def restart(self) -> None:
        if not self.running:
            self._action("restart")

    def kill(self) -> None:
        if not self.lost:  # a lost agent stops its members by itself
            self._action("kill")

    def stop(self, timeout: float = 10.0) -> None:
        if not self.lost:
            self._action("stop", {"timeout": timeout}, timeout=timeout + 15.0)

    def read_log(self, offset: int) -> tuple[bytes, int]:
        with self._log_lock:
            data = bytes(self._log[offset:])
        return data, offset + len(data)

    def _details(self, lines: int) -> dict[str, Any]:
        try:
            return dict(self.agent.json("GET", self._path, params={"tail": lines}, timeout=5.0))
        except AgentError as exc:
            return {"log_tail": f"(log unavailable: {exc})"}

    def log_tail(self, lines: int = 15) -> str:
        return str(self._details(lines).get("log_tail") or "(no log written)")

    def startup_problem(self) -> str | None:
        problem = self._state.get("problem")
        return f"{problem} (on agent {self.agent.name})" if problem else None

    def describe_failure(self, why: str) -> str:
        details = self._details(12)
        return (
            f"etcd member {self.name} on agent {self.agent.name} did not come up: {why}\n"
            f"  log on that machine: {details.get('log_path', '?')}\n  last lines of its log:\n"
            + "\n".join("    " + line for line in str(details.get("log_tail", "")).splitlines())
        )

    # log stream ---------------------------------------------------------------------

    def _fetch_log(self) -> None:
        while not self._closed.is_set():
            with self._log_lock:
                offset = len(self._log)
            try:
                response = self.agent.request(
                    "GET",
                    f"{self._path}/log",
                    params={"offset": offset, "wait": LOG_WAIT},
                    timeout=LOG_WAIT + 10.0,
                )
            except AgentError:
                self._closed.wait(0.2)  # the heartbeat decides whether the agent is lost
                continue
            if response.content:
                with self._log_lock:
                    if len(self._log) == offset:
                        self._log += response.content

    def close(self) -> None:
        self._closed.set()
        if self._log_thread.is_alive():
            self._log_thread.join(LOG_WAIT + 2.0)


class RemoteFaults:
    """The fault proxies on every agent, as one ``FaultHub`` for LiveBackend."""

    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet
        self._ids: dict[str, str] = {}
        self._rules: list[dict[str, Any]] = []
        self._bootstrapping = True

    def learn(self, member_id: str, name: str) -> None:
        self._ids[member_id.lower()] = name

    def _send(self) -> None:
        body = {"rules": self._rules, "ids": dict(self._ids), "bootstrapping": self._bootstrapping}
        self._fleet.each(lambda a: a.json("PUT", f"/runs/{self._fleet.run}/faults", json=body, what="faults"))

    @property
    def bootstrapping(self) -> bool:
        return self._bootstrapping

    @bootstrapping.setter
    def bootstrapping(self, value: bool) -> None:
        self._bootstrapping = value
        self._send()

    def set_rules(self, rules: dict[tuple[str, str], Rule]) -> None:
        self._rules = [
            {
                "src": src,
                "dst": dst,
                "blackhole": rule.blackhole,
                "delay": _distribution_text(rule.delay) if rule.delay is not None else None,
            }
            for (src, dst), rule in rules.items()
            if rule.blackhole or rule.delay is not None
        ]
        self._send()

    def heal(self) -> None:
        self.set_rules({})

    def close(self) -> None:
        """The proxies close with each agent's run (Fleet.close)."""


_fleets: weakref.WeakSet[Fleet] = weakref.WeakSet()


def _close_all() -> None:
    for fleet in list(_fleets):
        with contextlib.suppress(Exception):
            fleet.close()


atexit.register(_close_all)


class Fleet:
    """The agents of one cluster: placement, runs, leases, clocks, teardown."""

    def __init__(self, options: AgentOptions) -> None:
        if not options.addresses:
            raise AgentError("--agents: name at least one agent (HOST:PORT)")
        self.options = options
        self.agents = [AgentClient(address, options) for address in options.addresses]
        names = [a.name for a in self.agents]
        if len(set(names)) != len(names):
            raise AgentError(f"--agents: an agent is listed twice ({', '.join(names)})")
        self.run = f"r{secrets.token_hex(6)}"
        self.infos: dict[str, dict[str, Any]] = {}
        self.placement: dict[str, AgentClient] = {}
        self.members: list[RemoteMember] = []
        self.used: list[AgentClient] = []  # agents holding a run of ours
        self.lost = threading.Event()
        self.problem: AgentError | None = None
        self._closed = threading.Event()
        self._heartbeats: list[threading.Thread] = []
        _fleets.add(self)

    def each(self, fn: Callable[[AgentClient], _R]) -> list[_R]:
        return _parallel(fn, self.used)

    # before the run -------------------------------------------------------------------

    def check(self) -> dict[str, dict[str, Any]]:
        """Ask every agent who it is (token, reachability, etcd version), once."""
        if not self.infos:
            infos = _parallel(lambda a: a.json("GET", "/info", timeout=10.0, what="info"), self.agents)
            for agent, info in zip(self.agents, infos, strict=True):
                if info.get("api") != API_VERSION or not re.fullmatch(
                    r"\d+\.\d+\.\d+", str(info.get("etcd_version"))
                ):
                    raise AgentError(
                        f"agent {agent.name} (info): it speaks agent API {info.get('api')!r}, this "
                        f"controller API {API_VERSION} (run the same etcdplay version on both)"
                    )
            self.infos = {a.name: info for a, info in zip(self.agents, infos, strict=True)}
        return self.infos

    def binary(self) -> EtcdBinary:
        """The first agent's etcd (each agent runs its own; the header lists them all)."""
        info = self.check()[self.agents[0].name]
        version = tuple(int(p) for p in str(info["etcd_version"]).split("."))
        return EtcdBinary(str(info["etcd_bin"]), (version[0], version[1], version[2]))

    def header(self) -> list[dict[str, Any]]:
        return [
            {
                "address": a.name,
                "hostname": info.get("hostname"),
                "etcd_version": info.get("etcd_version"),
                "etcd_bin": info.get("etcd_bin"),
            }
            for a, info in ((a, self.check()[a.name]) for a in self.agents)
        ]

    # the run ---------------------------------------------------------------------------

    def create(
        self,
        names: Sequence[str],
        flags: RaftFlags,
        seed: int,
        *,
        use_proxy: bool,
        keep_data: bool,
        cluster_token: str,
    ) -> tuple[list[RemoteMember], RemoteFaults | None]:
        """Reserve, configure and describe every member (not started yet)."""
        self.check()
        self.placement = {name: self.agents[i % len(self.agents)] for i, name in enumerate(names)}
        hosted = {a.name: [n for n in names if self.placement[n] is a] for a in self.agents}
        wanted = [a for a in self.agents if hosted[a.name]]

        def create_run(pair: tuple[int, AgentClient]) -> dict[str, Any]:
            index, agent = pair
            reply = agent.json(
                "POST",
                "/runs",
                json={
                    "run": self.run,
                    "members": hosted[agent.name],
                    "cluster": list(names),
                    "advertise_host": agent.host,
                    "use_proxy": use_proxy,
                    "keep_data": keep_data,
                    "lease_seconds": self.options.lease_seconds,
                    "seed": seed * 1000 + index,
                },
                what="create the run",
            )
            self.used.append(agent)  # from here on, close() ends it
            return dict(reply)

        replies = _parallel(create_run, list(enumerate(wanted)))
        # A burst of clock samples first, so the offset is good from t = 0.
        self.each(lambda a: [a.renew(self.run, 5.0) for _ in range(CLOCK_BURST)])
        self._start_heartbeats()
        described = {n: (a, r) for a, r in zip(wanted, replies, strict=True) for n in hosted[a.name]}
        initial = {n: described[n][1]["members"][n]["peer_url"] for n in names}
        config = {
            "initial_cluster": initial,
            "cluster_token": cluster_token,
            "heartbeat_ms": flags.heartbeat_ms,
            "election_timeout_ms": flags.election_timeout_ms,
            "pre_vote": flags.pre_vote,
        }
        self.each(lambda a: a.json("PUT", f"/runs/{self.run}/cluster", json=config, what="configure etcd"))
        for name in names:
            agent, reply = described[name]
            slot = reply["members"][name]
            self.members.append(
                RemoteMember(
                    name,
                    agent,
                    self.run,
                    str(reply["advertise_host"]),
                    int(slot["client_port"]),
                    initial[name],
                )
            )
        return self.members, RemoteFaults(self) if use_proxy else None

    def _start_heartbeats(self) -> None:
        for agent in self.used:
            thread = threading.Thread(
                target=self._heartbeat, args=(agent,), name=f"etcdplay-lease-{agent.name}", daemon=True
            )
            self._heartbeats.append(thread)
            thread.start()

    def _heartbeat(self, agent: AgentClient) -> None:
        options = self.options
        timeout = max(0.5, min(3.0, options.lease_seconds / 3))
        give_up_after = max(1.0, options.lease_seconds / 2)
        last_ok = time.monotonic()
        refused = 0
        while not self._closed.wait(options.heartbeat):
            try:
                reply = agent.renew(self.run, timeout)
            except AgentError as exc:
                if self._closed.is_set():
                    return
                refused = refused + 1 if "unreachable" in str(exc) else 0
                gone = "no run" in str(exc)  # the agent restarted, or our lease lapsed
                if gone or refused >= 3 or time.monotonic() - last_ok > give_up_after:
                    self._lose(agent, str(exc))
                    return
                continue
            last_ok, refused = time.monotonic(), 0
            states = reply.get("members") or {}
            for member in self.members:
                if member.agent is agent and member.name in states:
                    member.update(states[member.name])

    def _lose(self, agent: AgentClient, why: str) -> None:
        names = [m.name for m in self.members if m.agent is agent]
        for member in self.members:
            if member.agent is agent:
                member.lost = True
                member.update({"running": False, "problem": "agent lost"})
        if self.problem is None:
            self.problem = AgentError(
                f"lost agent {agent.name} (member{'s' if len(names) != 1 else ''} "
                f"{', '.join(names) or 'none'}): {why}; its members do not outlive it (a dead "
                "agent's reaper kills them, a live one stops them when our lease lapses)"
            )
        self.lost.set()

    def raise_if_lost(self) -> None:
        if self.problem is not None:
            raise self.problem

    def clocks(self) -> list[dict[str, Any]]:
        """Each agent's members, clock offset and its error bound, for the trace."""
        out = []
        for agent in self.used:
            error = agent.clock.error
            out.append(
                {
                    "address": agent.name,
                    "members": [m.name for m in self.members if m.agent is agent],
                    "clock_offset_ms": round(agent.clock.offset * 1000, 3),
                    "clock_error_ms": round(error * 1000, 3) if error is not None else None,
                    "clock_samples": agent.clock.samples,
                }
            )
        return out

    def close(self) -> list[str]:
        """End every run (the agents stop the members and remove their data);
        returns where data was kept (``keep_data``)."""
        if self._closed.is_set():
            return []
        self._closed.set()
        for member in self.members:
            member._closed.set()
        kept: list[str] = []

        def end(agent: AgentClient) -> None:
            with contextlib.suppress(AgentError):
                reply = agent.json("DELETE", f"/runs/{self.run}", timeout=20.0, what="end the run")
                if reply.get("kept"):
                    kept.append(f"{agent.name}:{reply['kept']}")

        _parallel(end, list(self.used))
        for member in self.members:
            member.close()
        for thread in self._heartbeats:
            thread.join(5)
        for agent in self.agents:
            agent.close()
        return kept
