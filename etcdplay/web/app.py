"""The Starlette app: the page, its static files, downloads and one WebSocket.

Everything the page does goes over ``/ws`` (see ``etcdplay.web.hub``): the
server sends ``hello`` (a tab's first message), ``update`` (a batch),
``snapshot`` (the cluster at a past moment) and ``result`` (a command's
outcome); the page sends ``{"op": "command", "id": N, "command": {...}}``
and ``{"op": "seek", "t": T}``. Plotly.js is served from the installed
plotly package: the page loads nothing from other machines.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from etcdplay.play import CommandError
from etcdplay.web.hub import Hub
from etcdplay.web.security import TOKEN_COOKIE, Guard

STATIC = Path(str(resources.files("etcdplay.web") / "static"))

#: The page's own files, nothing else; no inline scripts, no other hosts.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'"
)


def plotly_js() -> Path:
    """plotly.min.js as shipped inside the installed plotly package."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _download_name(hub: Hub, suffix: str) -> str:
    info = hub.source.info()
    name = str(info.get("scenario") or "session").replace("/", "_")
    return f"etcdplay-{name}-seed{info.get('seed')}{suffix}"


def create_app(
    hub: Hub, hosts: set[str], token: str | None = None, any_address_port: int | None = None
) -> Guard:
    """The app behind its guard (Host, Origin and token checks; see ``Guard``
    for ``any_address_port``)."""

    async def index(request: Request) -> Response:
        response = FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": CSP})
        given = request.query_params.get("token")
        if token is not None and given is not None:
            # the guard has checked it: keep it for the page's later requests
            response.set_cookie(TOKEN_COOKIE, given, httponly=True, samesite="strict")
        return response

    async def plotly(_request: Request) -> Response:
        path = plotly_js()
        if not path.is_file():
            return PlainTextResponse("plotly.min.js is missing from the plotly package", status_code=500)
        return FileResponse(path, media_type="text/javascript")

    async def trace(_request: Request) -> Response:
        body = hub.source.trace_jsonl()
        name = _download_name(hub, ".jsonl")
        return Response(
            body,
            media_type="application/x-ndjson",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def scenario(_request: Request) -> Response:
        try:
            body = hub.source.scenario_toml()
        except CommandError as exc:
            return PlainTextResponse(str(exc), status_code=404)
        name = _download_name(hub, ".toml")
        return Response(
            body,
            media_type="application/toml",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        client = await hub.join(websocket.send_text)
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    await hub.handle(client, "\x00not text")
                    continue
                await hub.handle(client, text)
        except WebSocketDisconnect:
            pass
        finally:
            await hub.leave(client)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await hub.start()
        try:
            yield
        finally:
            await hub.stop()

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/plotly.min.js", plotly),
            Route("/download/trace.jsonl", trace),
            Route("/download/scenario.toml", scenario),
            WebSocketRoute("/ws", socket),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        lifespan=lifespan,
    )
    return Guard(app, hosts, token, any_address_port)
