"""The agent: an HTTP service that runs etcd members on this machine for a
controller elsewhere (``etcdplay agent``; docs/agent.md).

A *run* is one controller's cluster: the members this agent hosts for it,
their ports, data under ``<root>/run-<id>/<member>``, and a fault proxy in
front of each member's peer port. A run lives while its controller renews
the lease; when the lease lapses (the controller crashed, or the network to it
is gone) the agent stops the run's members and removes its data, as
``LiveBackend`` would have.

The agent only ever runs the etcd binary it was started with, with a command
line it builds itself (``EtcdMember.command``) from validated values
(``etcdplay.agent.api``). Members it starts are also watched by the reaper
(``etcdplay.live.reaper``), so an agent that is SIGKILLed leaves no etcd.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import shutil
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from etcdplay import __version__
from etcdplay.agent.api import API_VERSION, PREFIX, ClusterConfig, Faults, RunRequest, StopRequest
from etcdplay.backend import BackendError
from etcdplay.distributions import Distribution, DistributionError
from etcdplay.live.etcd import EtcdBinary, EtcdMember, RaftFlags, reserved_ports
from etcdplay.live.proxy import Rule
from etcdplay.live.proxyproc import ProxyProcess
from etcdplay.live.reaper import REAPER

#: Longest a log long-poll waits for new bytes, and most bytes one answer carries.
LOG_WAIT_MAX = 5.0
LOG_CHUNK = 1 << 20


class AgentProblem(Exception):
    """A request the agent cannot carry out: an HTTP status and one line."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class AgentRun:
    """One controller's members on this machine."""

    def __init__(self, request: RunRequest, agent: Agent) -> None:
        self.id = request.run
        self.request = request
        self.dir = agent.root / f"run-{request.run}"
        self.keep_data = request.keep_data
        self.lease = request.lease_seconds
        self.deadline = time.monotonic() + self.lease
        self.hub: ProxyProcess | None = None
        self.ports: dict[str, tuple[int, int, int]] = {}  # name -> client, peer, advertised peer
        self.members: dict[str, EtcdMember] = {}
        self.advertise_host = agent.advertise_host or request.advertise_host
        self.closed = False
        self._agent = agent
        try:
            self.dir.mkdir(parents=True)
        except FileExistsError:
            raise AgentProblem(409, f"run {request.run} already exists on this agent") from None
        except OSError as exc:
            raise AgentProblem(500, f"cannot create {self.dir}: {exc.strerror or exc}") from None
        if not self.keep_data:
            REAPER.watch_dir(self.dir)  # removed even if the agent is SIGKILLed
        try:
            self._reserve(agent.listen_host)
        except Exception as exc:
            self.close()
            raise AgentProblem(500, f"cannot reserve ports and proxies: {exc}") from None

    def _reserve(self, host: str) -> None:
        request = self.request
        if request.use_proxy:
            self.hub = ProxyProcess(request.seed)
            self.hub.bootstrapping = True
            self.hub.peers = set(request.cluster)
        # Held bound while the proxies bind port 0, so no proxy gets an etcd port.
        with reserved_ports(2 * len(request.members), host) as ports:
            for i, name in enumerate(request.members):
                client, peer = ports[2 * i], ports[2 * i + 1]
                # With a proxy, etcd's own peer port is reachable only from this machine.
                advertised = self.hub.add(name, peer, host, "127.0.0.1").port if self.hub else peer
                self.ports[name] = (client, peer, advertised)

    def describe(self) -> dict[str, Any]:
        return {
            "run": self.id,
            "dir": str(self.dir),
            "advertise_host": self.advertise_host,
            "members": {
                name: {
                    "client_port": client,
                    "peer_url": f"http://{self.advertise_host}:{advertised}",
                    **self.member_state(name),
                }
                for name, (client, _peer, advertised) in self.ports.items()
            },
        }

    def member(self, name: str) -> EtcdMember:
        if name not in self.ports:
            raise AgentProblem(404, f"member {name} is not hosted by this agent in run {self.id}")
        member = self.members.get(name)
        if member is None:
            raise AgentProblem(409, f"run {self.id}: the cluster is not configured yet (PUT .../cluster)")
        return member

    def member_state(self, name: str) -> dict[str, Any]:
        member = self.members.get(name)
        if member is None:
            return {"running": False, "pid": None, "exit_code": None, "starts": 0, "problem": None}
        return {
            "running": member.running,
            "pid": member.pid,
            "exit_code": member.exit_code,
            "starts": member.starts,
            "problem": member.startup_problem(),
        }

    def configure(self, config: ClusterConfig) -> None:
        missing = [name for name in self.ports if name not in config.initial_cluster]
        if missing:
            raise AgentProblem(400, f"initial_cluster lacks the members hosted here: {', '.join(missing)}")
        if any(m.starts for m in self.members.values()):
            raise AgentProblem(409, f"run {self.id}: members already started; the cluster is fixed")
        if config.election_timeout_ms < 5 * config.heartbeat_ms:
            raise AgentProblem(400, "etcd needs election_timeout_ms >= 5 x heartbeat_ms")
        initial = ",".join(f"{name}={url}" for name, url in config.initial_cluster.items())
        flags = RaftFlags(config.heartbeat_ms, config.election_timeout_ms, config.pre_vote)
        agent = self._agent
        for name, (client, peer, advertised) in self.ports.items():
            self.members[name] = EtcdMember(
                name,
                agent.binary,
                self.dir,
                client_port=client,
                peer_port=peer,
                advertised_peer_port=advertised,
                initial_cluster=initial,
                cluster_token=config.cluster_token,
                raft=flags,
                listen_host=agent.listen_host,
                peer_listen_host="127.0.0.1" if self.hub is not None else agent.listen_host,
                advertise_host=self.advertise_host,
            )

    def set_faults(self, faults: Faults) -> None:
        if self.hub is None:
            raise AgentProblem(409, f"run {self.id} was created without fault proxies")
        rules: dict[tuple[str, str], Rule] = {}
        for rule in faults.rules:
            try:
                delay = Distribution.parse(rule.delay) if rule.delay is not None else None
            except DistributionError as exc:
                raise AgentProblem(400, str(exc)) from None
            rules[(rule.src, rule.dst)] = Rule(blackhole=rule.blackhole, delay=delay)
        for member_id, name in faults.ids.items():
            self.hub.learn(member_id, name)
        if faults.bootstrapping is not None:
            self.hub.bootstrapping = faults.bootstrapping
        self.hub.set_rules(rules)

    def close(self) -> None:
        """Stop every member (SIGTERM, then SIGKILL), close the proxies, remove the data."""
        if self.closed:
            return
        self.closed = True
        threads = [threading.Thread(target=m.stop, args=(3.0,)) for m in self.members.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        for member in self.members.values():
            member.kill()
        if self.hub is not None:
            self.hub.close()
        if not self.keep_data:
            shutil.rmtree(self.dir, ignore_errors=True)
            REAPER.forget_dir(self.dir)


class Agent:
    """The agent's state: its binary, root directory and runs."""

    def __init__(
        self,
        binary: EtcdBinary,
        root: Path,
        *,
        listen_host: str,
        advertise_host: str | None = None,
        token: str | None = None,
    ) -> None:
        self.binary = binary
        self.root = root
        self.listen_host = listen_host
        self.advertise_host = advertise_host
        self.token = token
        self.runs: dict[str, AgentRun] = {}
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.expired: list[str] = []  # run ids whose lease lapsed (for the log and tests)
        self._watchdog = threading.Thread(target=self._watch_leases, name="agent-leases", daemon=True)

    def start_watchdog(self) -> None:
        self._watchdog.start()

    def run(self, run_id: str) -> AgentRun:
        with self.lock:
            found = self.runs.get(run_id)
        if found is None:
            raise AgentProblem(404, f"no run {run_id} on this agent (ended, or its lease lapsed)")
        return found

    def create(self, request: RunRequest) -> AgentRun:
        with self.lock:
            if request.run in self.runs:
                raise AgentProblem(409, f"run {request.run} already exists on this agent")
            run = AgentRun(request, self)
            self.runs[request.run] = run
            return run

    def end(self, run_id: str) -> AgentRun:
        with self.lock:
            run = self.runs.pop(run_id, None)
        if run is None:
            raise AgentProblem(404, f"no run {run_id} on this agent")
        run.close()
        return run

    def _watch_leases(self) -> None:
        while not self.stopping.wait(0.1):
            now = time.monotonic()
            with self.lock:
                lapsed = [r for r in self.runs.values() if now > r.deadline]
                for run in lapsed:
                    self.runs.pop(run.id, None)
            for run in lapsed:
                print(
                    f"etcdplay agent: run {run.id}: no lease renewal for {run.lease:g} s "
                    "(controller gone?): stopping its members",
                    flush=True,
                )
                with contextlib.suppress(Exception):
                    run.close()
                self.expired.append(run.id)  # after close: its members are stopped, its data gone

    def shutdown(self) -> None:
        self.stopping.set()
        with self.lock:
            runs = list(self.runs.values())
            self.runs.clear()
        for run in runs:
            with contextlib.suppress(Exception):
                run.close()


# --- HTTP ------------------------------------------------------------------------------


class TokenAuth:
    """Every request carries ``Authorization: Bearer <token>``; compared in constant time."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token.encode() if token is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.token is not None:
            given = b""
            for key, value in scope.get("headers", []):
                if key == b"authorization":
                    given = value
            scheme, _, token = given.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self.token):
                response = JSONResponse({"error": "wrong or missing token"}, status_code=401)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


Handler = Callable[[Request], Awaitable[Response]]
_M = TypeVar("_M", bound=BaseModel)


async def _body(request: Request, model: type[_M]) -> _M:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        # A browser page can send text/plain without asking first; JSON it cannot.
        raise AgentProblem(415, "send the body as application/json")
    raw = await request.body()
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise AgentProblem(400, f"{where}: {first.get('msg', 'invalid')}") from None


def build_app(agent: Agent) -> Starlette:
    """The Starlette application for ``agent``."""

    def guarded(handler: Handler) -> Handler:
        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except AgentProblem as exc:
                return JSONResponse({"error": str(exc)}, status_code=exc.status)
            except BackendError as exc:  # etcd would not start, a port was taken, ...
                return JSONResponse({"error": str(exc)}, status_code=500)
            except Exception as exc:  # one line to the controller, not a bare 500
                return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, status_code=500)

        return wrapped

    def blocking(fn: Callable[[], Any]) -> Awaitable[Any]:
        return asyncio.get_running_loop().run_in_executor(None, fn)

    async def info(request: Request) -> Response:
        with agent.lock:
            runs = sorted(agent.runs)
        return JSONResponse(
            {
                "agent": __version__,
                "api": API_VERSION,
                "hostname": socket.gethostname(),
                "etcd_bin": agent.binary.path,
                "etcd_version": agent.binary.version_text,
                "root": str(agent.root),
                "time": time.time(),
                "runs": runs,
            }
        )

    async def create_run(request: Request) -> Response:
        body = await _body(request, RunRequest)
        run = await blocking(lambda: agent.create(body))
        return JSONResponse({**run.describe(), "time": time.time()}, status_code=201)

    async def end_run(request: Request) -> Response:
        run = await blocking(lambda: agent.end(request.path_params["run"]))
        return JSONResponse({"run": run.id, "kept": str(run.dir) if run.keep_data else None})

    async def lease(request: Request) -> Response:
        # The controller's heartbeat: renews the lease; the reply's time is a clock sample.
        run = agent.run(request.path_params["run"])
        run.deadline = time.monotonic() + run.lease
        states = {name: run.member_state(name) for name in run.ports}
        return JSONResponse({"time": time.time(), "members": states})

    async def configure(request: Request) -> Response:
        run = agent.run(request.path_params["run"])
        body = await _body(request, ClusterConfig)
        run.configure(body)
        return JSONResponse(run.describe())

    async def faults(request: Request) -> Response:
        run = agent.run(request.path_params["run"])
        body = await _body(request, Faults)
        await blocking(lambda: run.set_faults(body))
        return JSONResponse({"rules": len(body.rules)})

    async def member_state(request: Request) -> Response:
        run = agent.run(request.path_params["run"])
        name = request.path_params["name"]
        member = run.member(name)
        lines = min(200, max(1, int(request.query_params.get("tail", "15") or 15)))
        return JSONResponse(
            {**run.member_state(name), "log_path": str(member.log_path), "log_tail": member.log_tail(lines)}
        )

    async def member_action(request: Request) -> Response:
        run = agent.run(request.path_params["run"])
        name, action = request.path_params["name"], request.path_params["action"]
        member = run.member(name)
        if action == "stop":
            stop = await _body(request, StopRequest)
            await blocking(lambda: member.stop(stop.timeout))
        elif action == "kill":
            await blocking(member.kill)
        elif action in ("start", "restart"):
            await blocking(member.start)
        else:
            raise AgentProblem(404, f"no action {action!r}: use start, kill, stop or restart")
        return JSONResponse(run.member_state(name))

    async def member_log(request: Request) -> Response:
        """Log bytes from ``offset``: answered as soon as there are any, or empty
        after ``wait`` seconds (a long poll). ``X-Log-Offset`` is the new offset."""
        run = agent.run(request.path_params["run"])
        member = run.member(request.path_params["name"])
        try:
            offset = max(0, int(request.query_params.get("offset", "0")))
            wait = min(LOG_WAIT_MAX, max(0.0, float(request.query_params.get("wait", "0"))))
        except ValueError:
            raise AgentProblem(400, "offset and wait must be numbers") from None
        deadline = time.monotonic() + wait
        while True:
            data, _end = member.read_log(offset)
            data = data[:LOG_CHUNK]
            if data or time.monotonic() >= deadline or run.closed or agent.stopping.is_set():
                break
            await asyncio.sleep(0.02)
        return Response(
            data, media_type="application/octet-stream", headers={"X-Log-Offset": str(offset + len(data))}
        )

    routes = [
        Route(f"{PREFIX}/info", guarded(info), methods=["GET"]),
        Route(f"{PREFIX}/runs", guarded(create_run), methods=["POST"]),
        Route(f"{PREFIX}/runs/{{run}}", guarded(end_run), methods=["DELETE"]),
        Route(f"{PREFIX}/runs/{{run}}/lease", guarded(lease), methods=["POST"]),
        Route(f"{PREFIX}/runs/{{run}}/cluster", guarded(configure), methods=["PUT"]),
        Route(f"{PREFIX}/runs/{{run}}/faults", guarded(faults), methods=["PUT"]),
        Route(f"{PREFIX}/runs/{{run}}/members/{{name}}", guarded(member_state), methods=["GET"]),
        Route(f"{PREFIX}/runs/{{run}}/members/{{name}}/log", guarded(member_log), methods=["GET"]),
        Route(f"{PREFIX}/runs/{{run}}/members/{{name}}/{{action}}", guarded(member_action), methods=["POST"]),
    ]
    middleware = [Middleware(TokenAuth, token=agent.token)]
    if agent.token is None:
        # Loopback without a token: refuse other Host headers (DNS rebinding from a browser).
        middleware.append(
            Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost", "[::1]", "::1"])
        )
    return Starlette(routes=routes, middleware=middleware)
