"""The agent's HTTP API without etcd: auth, validation, runs and leases, and
the controller's helpers (clock estimate, address and flag parsing)."""

from __future__ import annotations

import contextlib
import http.server
import socket
import subprocess
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette suggests httpx2 for its TestClient; httpx works
    from starlette.testclient import TestClient

from etcdplay.agent.client import ClockEstimate, split_address
from etcdplay.agent.command import is_loopback, parse_listen
from etcdplay.agent.options import AgentError, AgentOptions, agent_options
from etcdplay.agent.server import Agent, build_app
from etcdplay.cli import app
from etcdplay.live.etcd import EtcdBinary

TOKEN = "s3cret-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def run_body(**kw: object) -> dict[str, object]:
    return {
        "run": "r1",
        "members": ["n1", "n2"],
        "cluster": ["n1", "n2", "n3"],
        "advertise_host": "127.0.0.1",
        **kw,
    }


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    # A binary that is never run here: no member is started in these tests.
    state = Agent(EtcdBinary("/bin/false", (3, 4, 23)), tmp_path, listen_host="127.0.0.1", token=TOKEN)
    yield state
    state.shutdown()


@pytest.fixture
def client(agent: Agent) -> Iterator[TestClient]:
    with TestClient(build_app(agent), base_url="http://127.0.0.1") as c:
        yield c


def test_every_request_needs_the_token(client: TestClient) -> None:
    assert client.get("/v1/info").status_code == 401
    assert client.get("/v1/info", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/v1/info", headers={"Authorization": TOKEN}).status_code == 401
    assert client.post("/v1/runs", json=run_body()).status_code == 401
    info = client.get("/v1/info", headers=AUTH).json()
    assert info["etcd_version"] == "3.4.23" and info["etcd_bin"] == "/bin/false" and info["api"] == 1


def test_without_a_token_only_loopback_host_headers(agent: Agent) -> None:
    agent.token = None
    with TestClient(build_app(agent), base_url="http://127.0.0.1") as c:
        assert c.get("/v1/info").status_code == 200
    with TestClient(build_app(agent), base_url="http://evil.example") as c:
        assert c.get("/v1/info").status_code == 400  # DNS rebinding from a browser page


def test_run_lifecycle_ports_proxies_lease_and_end(client: TestClient, agent: Agent, tmp_path: Path) -> None:
    created = client.post("/v1/runs", json=run_body(), headers=AUTH)
    assert created.status_code == 201, created.text
    members = created.json()["members"]
    assert set(members) == {"n1", "n2"}
    assert all(m["peer_url"].startswith("http://127.0.0.1:") and not m["running"] for m in members.values())
    assert (tmp_path / "run-r1").is_dir()
    assert client.post("/v1/runs", json=run_body(), headers=AUTH).status_code == 409
    lease = client.post("/v1/runs/r1/lease", headers=AUTH).json()
    assert isinstance(lease["time"], float) and set(lease["members"]) == {"n1", "n2"}
    # members cannot start before the cluster is configured
    assert client.post("/v1/runs/r1/members/n1/start", json={}, headers=AUTH).status_code == 409
    assert client.get("/v1/runs/r1/members/n3", headers=AUTH).status_code == 404
    ok = {
        "initial_cluster": {n: f"http://127.0.0.1:{20000 + i}" for i, n in enumerate(["n1", "n2", "n3"])},
        "cluster_token": "etcdplay-abc",
        "heartbeat_ms": 10,
        "election_timeout_ms": 100,
        "pre_vote": True,
    }
    assert client.put("/v1/runs/r1/cluster", json=ok, headers=AUTH).status_code == 200
    faults = {"rules": [{"src": "n1", "dst": "n3", "blackhole": True}], "ids": {"8e9e05c52164694d": "n1"}}
    assert client.put("/v1/runs/r1/faults", json=faults, headers=AUTH).status_code == 200
    hub = agent.runs["r1"].hub
    assert hub is not None and hub.blocked("n1", "n3") and hub.ids["8e9e05c52164694d"] == "n1"
    bad_delay = {"rules": [{"src": "n1", "dst": "n3", "delay": "weird(1)"}]}
    assert client.put("/v1/runs/r1/faults", json=bad_delay, headers=AUTH).status_code == 400
    ended = client.delete("/v1/runs/r1", headers=AUTH).json()
    assert ended == {"run": "r1", "kept": None}
    assert not (tmp_path / "run-r1").exists()
    assert client.post("/v1/runs/r1/lease", headers=AUTH).status_code == 404


@pytest.mark.parametrize(
    ("path", "method", "body", "expected"),
    [
        ("/v1/runs", "post", run_body(run="../etc"), "run"),
        ("/v1/runs", "post", run_body(members=["n1/../../x"]), "members"),
        ("/v1/runs", "post", run_body(advertise_host="1.2.3.4 --data-dir=/"), "advertise_host"),
        ("/v1/runs", "post", run_body(command="/bin/sh"), "command"),
        ("/v1/runs", "post", run_body(lease_seconds=0), "lease_seconds"),
    ],
)
def test_bad_bodies_are_refused_by_name(
    client: TestClient, path: str, method: str, body: dict[str, object], expected: str
) -> None:
    response = getattr(client, method)(path, json=body, headers=AUTH)
    assert response.status_code == 400
    assert expected in response.json()["error"]


def test_cluster_flags_are_a_whitelist(client: TestClient) -> None:
    assert client.post("/v1/runs", json=run_body(), headers=AUTH).status_code == 201
    base = {
        "initial_cluster": {"n1": "http://127.0.0.1:1", "n2": "http://127.0.0.1:2"},
        "cluster_token": "t",
        "heartbeat_ms": 10,
        "election_timeout_ms": 100,
        "pre_vote": False,
    }
    for bad in (
        {"initial_cluster": {"n1": "http://a:1,n9=http://b:2", "n2": "http://127.0.0.1:2"}},
        {"initial_cluster": {"n1": "file:///etc/passwd", "n2": "http://127.0.0.1:2"}},
        {"cluster_token": "x --enable-pprof"},
        {"heartbeat_ms": 0},
        {"logger": "capnslog"},
        {"initial_cluster": {"n1": "http://127.0.0.1:1"}},  # n2 is hosted here
        {"election_timeout_ms": 20},  # < 5 x heartbeat
    ):
        response = client.put("/v1/runs/r1/cluster", json={**base, **bad}, headers=AUTH)
        assert response.status_code == 400, bad
    text = client.post("/v1/runs", content=b"{}", headers={**AUTH, "Content-Type": "text/plain"})
    assert text.status_code == 415


def test_lease_lapses_and_the_run_ends(agent: Agent, client: TestClient, tmp_path: Path) -> None:
    import time

    agent.start_watchdog()
    assert client.post("/v1/runs", json=run_body(lease_seconds=0.5), headers=AUTH).status_code == 201
    deadline = time.monotonic() + 20
    while "r1" not in agent.expired and time.monotonic() < deadline:
        time.sleep(0.05)
    assert agent.expired == ["r1"] and not (tmp_path / "run-r1").exists()


def test_clock_estimate_takes_the_shortest_round_trip() -> None:
    clock = ClockEstimate()
    assert clock.offset == 0.0 and clock.error is None
    clock.add(100.0, 100.5 + 0.050, 100.1)  # rtt 100 ms; true offset 0.5 s, reply asymmetric
    clock.add(200.0, 200.5 + 0.001, 200.002)  # rtt 2 ms
    clock.add(300.0, 300.5 + 0.2, 300.4)
    assert abs(clock.offset - 0.5) < 0.001 and abs(clock.error - 0.001) < 1e-9  # type: ignore[operator]


def test_controller_flags() -> None:
    assert split_address("10.0.0.1:9027", tls=False) == ("10.0.0.1:9027", "10.0.0.1", "http://10.0.0.1:9027")
    assert split_address("https://h:1", tls=False)[2] == "https://h:1"
    assert split_address("h:1", tls=True)[2] == "https://h:1"
    with pytest.raises(AgentError, match="not HOST:PORT"):
        split_address("h", tls=False)
    assert agent_options(None, None, None) is None
    with pytest.raises(AgentError, match="give --agents"):
        agent_options(None, Path("token"), None)
    with pytest.raises(AgentError, match="cannot read"):
        agent_options("h:1", Path("/no/such/token"), None)


def test_listen_and_loopback_rules() -> None:
    assert parse_listen("0.0.0.0:9027") == ("0.0.0.0", 9027)
    assert parse_listen("[::1]:9027") == ("::1", 9027)
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1")
    with pytest.raises(ValueError):
        parse_listen("9027")


def test_agent_command_refuses_unsafe_setups(tmp_path: Path) -> None:
    runner = CliRunner()
    open_to_all = runner.invoke(app, ["agent", "--listen", "0.0.0.0:9027"])
    assert open_to_all.exit_code == 2 and "loopback" in open_to_all.output
    short = tmp_path / "short"
    short.write_text("abc\n")
    weak = runner.invoke(app, ["agent", "--token-file", str(short)])
    assert weak.exit_code == 2 and "at least 16" in weak.output
    half_tls = runner.invoke(app, ["agent", "--cert", str(short)])
    assert half_tls.exit_code == 2 and "--cert and --key go together" in half_tls.output
    no_etcd = runner.invoke(app, ["agent", "--etcd-bin", str(tmp_path / "nope")])
    assert no_etcd.exit_code == 2 and "does not exist" in no_etcd.output


def test_agent_command_refuses_a_cert_and_key_that_do_not_load(tmp_path: Path) -> None:
    """Checked before it says it listens (uvicorn failed later with a traceback)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ],
        capture_output=True,
    )
    if made.returncode != 0:
        pytest.skip(f"openssl could not make a certificate: {made.stderr.decode()[-200:]}")
    swapped = CliRunner().invoke(app, ["agent", "--cert", str(key), "--key", str(cert)])
    assert swapped.exit_code == 2, swapped.output
    assert "not a PEM certificate and its private key" in swapped.output
    assert "listening" not in swapped.output


@contextlib.contextmanager
def _serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _NotAnAgent(http.server.BaseHTTPRequestHandler):
    """A web server at the address: an HTML 404 page, or 200 with text or other JSON."""

    def do_GET(self) -> None:
        bodies = {
            "/v1/info": (200, "text/plain", b"hello\n"),
            "/other/v1/info": (200, "application/json", b'{"agent": "x", "api": 99}'),
        }
        status, kind, body = bodies.get(
            self.path, (404, "text/html", b"<!DOCTYPE HTML>\n<html>\n<h1>Error response</h1>\n</html>\n")
        )
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


def test_something_else_at_the_address_is_one_line_naming_it() -> None:
    from etcdplay.agent.client import AgentClient
    from etcdplay.agent.remote import Fleet

    with _serving(_NotAnAgent) as address:
        options = AgentOptions((address,), TOKEN)
        client = AgentClient(address, options)
        with pytest.raises(AgentError) as html:
            client.json("GET", "/nothing", what="info")
        assert str(html.value) == (
            f"agent {address} (info): HTTP 404 from something that is not an etcdplay agent (is the address right?)"
        )
        with pytest.raises(
            AgentError, match=rf"^agent {address} \(info\): the answer is not the agent API's JSON"
        ):
            client.json("GET", "/info", what="info")  # 200 text/plain: was a JSONDecodeError traceback
        client._http.base_url = f"http://{address}/other"
        fleet = Fleet(options)
        fleet.agents[0]._http.base_url = f"http://{address}/other"
        with pytest.raises(AgentError, match=rf"^agent {address} \(info\): it speaks agent API 99"):
            fleet.check()
        client.close()
        fleet.agents[0].close()


def test_an_https_agent_dialed_over_http_is_named_with_a_hint() -> None:
    """A TLS server closes a plain-HTTP request without an answer."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    address = f"127.0.0.1:{listener.getsockname()[1]}"

    def close_every_connection() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            conn.recv(1024)
            conn.close()

    thread = threading.Thread(target=close_every_connection, daemon=True)
    thread.start()
    try:
        from etcdplay.agent.client import AgentClient

        client = AgentClient(address, AgentOptions((address,), TOKEN))
        with pytest.raises(AgentError) as closed:
            client.json("GET", "/info", what="info")
        assert str(closed.value) == (
            f"agent {address} (info): closed the connection without an answer "
            "(it stopped, or it serves HTTPS: give --agent-ca)"
        )
        client.close()
    finally:
        listener.close()
        thread.join(5)
