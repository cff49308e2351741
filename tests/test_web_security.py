"""The web server refuses other sites' pages, foreign Host names and (once
exposed) requests without its token; bad requests get a clear answer and the
server goes on; bad command lines exit 2 with one line."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from web_server import PATIENCE, ROOT, WebServer, web_server

from etcdplay.web.command import lan_address
from etcdplay.web.security import Guard, allowed_hosts

# --- the guard on its own --------------------------------------------------------------


def scope(kind: str = "http", host: str = "127.0.0.1:8000", origin: str | None = None, **extra: Any) -> Any:
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    for name, value in extra.get("headers", []):
        headers.append((name.encode(), value.encode()))
    return {"type": kind, "headers": headers, "query_string": extra.get("query", b"")}


def test_guard_refuses_foreign_hosts_and_origins() -> None:
    guard = Guard(lambda *a: None, allowed_hosts("127.0.0.1", 8000))  # type: ignore[arg-type,return-value]
    assert guard.problem(scope()) is None
    assert guard.problem(scope(host="localhost:8000")) is None
    assert guard.problem(scope(origin="http://127.0.0.1:8000")) is None
    # DNS rebinding: another name for 127.0.0.1
    problem = guard.problem(scope(host="evil.example:8000"))
    assert problem is not None and problem[0] == 403 and "evil.example" in problem[1]
    # another site's page (CSRF), and a WebSocket without an Origin
    assert guard.problem(scope(origin="http://evil.example"))[0] == 403  # type: ignore[index]
    assert guard.problem(scope("websocket"))[0] == 403  # type: ignore[index]
    assert guard.problem(scope("websocket", origin="http://localhost:8000")) is None
    assert guard.problem(scope("websocket", origin="http://127.0.0.1:9999")) is not None


def test_guard_with_a_token() -> None:
    guard = Guard(lambda *a: None, allowed_hosts("127.0.0.1", 8000), token="s3cret")  # type: ignore[arg-type,return-value]
    assert guard.problem(scope())[0] == 401  # type: ignore[index]
    assert guard.problem(scope(query=b"token=wrong"))[0] == 401  # type: ignore[index]
    assert guard.problem(scope(query=b"token=s3cret")) is None
    assert guard.problem(scope(headers=[("cookie", "etcdplay_token=s3cret")])) is None
    assert guard.problem(scope(headers=[("cookie", "etcdplay_token=nope")]))[0] == 401  # type: ignore[index]


def test_guard_on_every_interface_knows_the_machines_own_addresses() -> None:
    hosts = allowed_hosts("0.0.0.0", 8000)
    guard = Guard(lambda *a: None, hosts, any_address_port=8000)  # type: ignore[arg-type,return-value]
    # an address of this machine that its name does not resolve to
    assert "127.0.0.2:8000" not in hosts
    assert guard.problem(scope(host="127.0.0.2:8000")) is None
    assert guard.problem(scope("websocket", host="127.0.0.2:8000", origin="http://127.0.0.2:8000")) is None
    # not this machine's (TEST-NET-3), another port, a name: still refused
    assert guard.problem(scope(host="203.0.113.9:8000"))[0] == 403  # type: ignore[index]
    assert guard.problem(scope(host="127.0.0.2:9000"))[0] == 403  # type: ignore[index]
    assert guard.problem(scope(host="evil.example:8000"))[0] == 403  # type: ignore[index]
    assert guard.problem(scope(origin="http://203.0.113.9:8000"))[0] == 403  # type: ignore[index]
    # bound to one address, only that one's names count
    assert Guard(lambda *a: None, allowed_hosts("127.0.0.1", 8000)).problem(scope(host="127.0.0.2:8000"))  # type: ignore[arg-type,return-value]


# --- a real server --------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[WebServer]:
    with web_server("--seed", "5", "--size", "3") as s:
        yield s
    assert s.proc.returncode == 0, "".join(s.stderr)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, Any]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=PATIENCE) as response:
            return response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), exc.headers


def test_http_refuses_a_foreign_host_or_origin(server: WebServer) -> None:
    assert get(server.url)[0] == 200
    status, body, _ = get(server.url, {"Host": f"evil.example:{server.port}"})
    assert status == 403 and "Host" in body
    status, body, _ = get(server.origin + "/download/trace.jsonl", {"Origin": "http://evil.example"})
    assert status == 403 and "Origin" in body
    status, body, _headers = get(server.origin + "/plotly.min.js")
    assert status == 200 and "plotly" in body[:2000].lower()
    assert "Content-Security-Policy" in get(server.url)[2]


async def _ws(url: str, origin: str | None, messages: list[dict[str, Any]] | None = None) -> list[Any]:
    """Connect, send the messages, and collect the replies to them."""
    kwargs: dict[str, Any] = {"origin": origin} if origin else {}
    replies: list[Any] = []
    async with websockets.connect(url, open_timeout=PATIENCE, **kwargs) as ws:
        hello = json.loads(await ws.recv())
        replies.append(hello)
        for message in messages or []:
            await ws.send(message if isinstance(message, str | bytes) else json.dumps(message))
            while True:
                reply = json.loads(await asyncio.wait_for(ws.recv(), PATIENCE))
                if reply["type"] in ("result", "error", "snapshot"):
                    replies.append(reply)
                    break
    return replies


def test_websocket_needs_this_servers_origin(server: WebServer) -> None:
    ws_url = server.origin.replace("http", "ws") + "/ws"
    hello = asyncio.run(_ws(ws_url, server.origin))[0]
    assert hello["type"] == "hello" and hello["info"]["seed"] == 5
    for origin in ("http://evil.example", None):
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            asyncio.run(_ws(ws_url, origin))
        assert refused.value.response.status_code == 403


def test_bad_requests_get_clear_answers_and_the_server_goes_on(server: WebServer) -> None:
    ws_url = server.origin.replace("http", "ws") + "/ws"
    replies = asyncio.run(
        _ws(
            ws_url,
            server.origin,
            [
                "this is not json",
                {"op": "dance"},
                {"op": "command", "id": 1, "command": {"action": "kill", "node": "n9"}},
                {"op": "command", "id": 2, "command": {"action": "partition", "groups": "n1"}},
                {"op": "command", "id": 3, "command": {"action": "put", "key": "\ud800", "value": "x"}},
                {"op": "command", "id": 4, "command": {"action": "fly"}},
                {"op": "seek", "t": "yesterday"},
                b"\xff\xfe binary",
                # numbers JSON cannot send back: the tab's socket stays open
                '{"op": "seek", "t": Infinity}',
                '{"op": "seek", "t": 1e400}',
                '{"op": "command", "id": 1e400, "command": {"action": "fly"}}',
                {"op": "command", "id": 5, "command": {"action": "put", "key": "k", "value": "v"}},
                {"op": "seek", "t": 0.5},
            ],
        )
    )
    (_hello, not_json, bad_op, bad_node, bad_groups, bad_key, bad_action, bad_seek, binary) = replies[:9]
    (infinity, huge_t, huge_id, put, seek) = replies[9:]
    assert not_json == {"type": "error", "message": "bad request: not JSON"}
    assert "unknown op" in bad_op["message"]
    assert bad_node["ok"] is False and "n9" in bad_node["message"]
    assert bad_groups["ok"] is False and "groups" in bad_groups["message"]
    assert bad_key["ok"] is False and "UTF-8" in bad_key["message"]
    assert bad_action["ok"] is False and "unknown action" in bad_action["message"]
    assert "seek" in bad_seek["message"]
    assert binary["type"] == "error"
    assert infinity == {"type": "error", "message": "bad request: not JSON"}
    assert "seek" in huge_t["message"]
    assert huge_id["id"] is None and "unknown action" in huge_id["message"]
    assert put["ok"] is True and put["op"]["latency_ms"] > 0
    assert seek["type"] == "snapshot" and seek["view"]["t"] == 0.5


def test_an_exposed_server_needs_its_token() -> None:
    with web_server("--host", "0.0.0.0", "--size", "3") as s:
        assert "token=" in s.url
        assert any("warning" in line for line in s.stderr)
        local = f"http://127.0.0.1:{s.port}/"
        token = s.url.split("token=")[1]
        status, body, _ = get(local)
        assert status == 401 and "token" in body
        status, _, headers = get(local + "?token=" + token)
        assert status == 200
        cookie = headers["set-cookie"].split(";")[0]
        assert get(f"http://127.0.0.1:{s.port}/static/app.js", {"Cookie": cookie})[0] == 200
        assert get(f"http://127.0.0.1:{s.port}/static/app.js")[0] == 401
        # reached by another of this machine's addresses, as another machine would
        lan = lan_address()
        for address in ("127.0.0.2", lan):
            if address is not None:
                status, body, _ = get(f"http://{address}:{s.port}/?token={token}")
                assert status == 200, (address, body)
        if lan is not None:  # the address is printed beside the machine's name
            assert f"(or http://{lan}:{s.port}/?token={token})" in s.printed
    assert s.proc.returncode == 0


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "etcdplay", "web", "--no-open", *args],
        capture_output=True,
        text=True,
        timeout=PATIENCE,
        cwd=str(ROOT),
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--trace", "run.jsonl", "--live"], "--trace replays a recorded run"),
        (["--trace", "/nonexistent/run.jsonl"], "no such trace file"),
        (["--scenario", "no-such-lesson"], "no-such-lesson"),
        (["--speed", "0"], "--speed"),
        (["--port", "70000"], "--port 70000"),
        (["--size", "0"], "size"),
    ],
)
def test_bad_command_lines_exit_2_with_one_line(args: list[str], says: str) -> None:
    done = _cli(*args)
    assert done.returncode == 2, done.stderr
    assert says in done.stderr
    assert "Traceback" not in done.stderr


def test_a_port_in_use_is_a_clear_error(server: WebServer) -> None:
    done = _cli("--port", str(server.port))
    assert done.returncode == 2 and "already in use" in done.stderr
