"""The console's server: static files and a WebSocket for live updates and actions, on
loopback, every request checked against a per-session token.

It runs on relay's own event loop with the ``websockets`` library (already relay's
WebSocket stack): plain GETs are answered from ``process_request``, ``/ws`` upgrades. The
page sends actions (replay, save as test) over the WebSocket, so no request ever changes
anything without the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from relay.observe.invocations import InvocationEvent
from relay.ui.console.state import ConsoleState

log = logging.getLogger("relay.console")

_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/console.js": ("console.js", "text/javascript; charset=utf-8"),
    "/console.css": ("console.css", "text/css; charset=utf-8"),
}
#: Actions the page may ask for: name -> coroutine(invocation id) returning a JSON reply.
Action = Callable[[str], Awaitable[dict[str, Any]]]


class Console:
    """Subscribe an instance to the invocation feed; ``url`` is what `relay start` prints."""

    def __init__(
        self,
        *,
        stage: str,
        functions: dict[str, str],
        redact_paths: list[str] | None = None,
        reloads: Callable[[], dict[str, int]] = dict,
        actions: dict[str, Action] | None = None,
        port: int = 0,
    ) -> None:
        self.stage = stage
        self.state = ConsoleState(functions, redact_paths)
        self.token = secrets.token_urlsafe(24)
        self.port = port
        self._reloads = reloads
        self.actions = dict(actions or {})
        self._server: Server | None = None
        self._clients: set[ServerConnection] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?token={self.token}"

    async def start(self) -> None:
        self._server = await serve(
            self._session,
            "127.0.0.1",
            self.port,
            process_request=self._http,
            max_size=1024 * 1024,
            compression=None,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    # -- the feed -----------------------------------------------------------------------

    def __call__(self, event: InvocationEvent) -> None:
        if not self._clients:
            # No page open: keep the event for when one opens, but build no row (it parses
            # the payload and hashes the id) and no standings, on the loop's hot path.
            self.state.keep(event)
            return
        row = self.state.add(event)
        self._broadcast({"op": "invocation", "row": row})
        if event.finished:
            self._broadcast({"op": "functions", "functions": self._standings()})

    def _standings(self) -> list[dict[str, Any]]:
        return self.state.standings(self._reloads())

    def _broadcast(self, message: dict[str, Any]) -> None:
        if not self._clients:
            return
        text = json.dumps(message)
        for client in list(self._clients):
            # send() of a str is queued by the connection; no await on the caller's path
            task = asyncio.ensure_future(client.send(text))
            task.add_done_callback(_ignore_closed)

    # -- HTTP ---------------------------------------------------------------------------

    def _authorised(self, request: Request) -> bool:
        query = parse_qs(urlsplit(request.path).query)
        given = (query.get("token") or [""])[0]
        return hmac.compare_digest(given.encode(), self.token.encode())

    def _http(
        self,
        connection: ServerConnection,  # noqa: ARG002 (websockets process_request)
        request: Request,
    ) -> Response | None:
        path = urlsplit(request.path).path
        if not self._authorised(request):
            return _response(403, "text/plain", b"relay console: a valid token is required; "
                             b"open the URL `relay start` printed\n")  # fmt: skip
        if path == "/ws":
            return None  # on to the WebSocket handshake
        if path in _STATIC:
            name, content_type = _STATIC[path]
            body = resources.files("relay.ui.console").joinpath("static", name).read_bytes()
            if name == "index.html":
                body = body.replace(b"{{TOKEN}}", self.token.encode())
                body = body.replace(b"{{STAGE}}", self.stage.encode())
            return _response(200, content_type, body)
        if path == "/api/invocation":
            key = (parse_qs(urlsplit(request.path).query).get("id") or [""])[0]
            detail = self.state.detail(key)
            if detail is None:
                return _response(404, "application/json", b'{"error": "no such invocation"}')
            return _response(200, "application/json", json.dumps(detail).encode())
        return _response(404, "text/plain", b"not found\n")

    # -- WebSocket ----------------------------------------------------------------------

    async def _session(self, ws: ServerConnection) -> None:
        self._clients.add(ws)
        try:
            rows = [self.state.row(e) for e in self.state.invocations.values()]
            await ws.send(
                json.dumps(
                    {
                        "op": "hello",
                        "stage": self.stage,
                        "rows": rows,
                        "functions": self._standings(),
                    }
                )
            )
            async for raw in ws:
                await ws.send(json.dumps(await self._act(raw)))
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(ws)

    async def _act(self, raw: str | bytes) -> dict[str, Any]:
        try:
            message = json.loads(raw)
            op, key = str(message["op"]), str(message.get("id", ""))
        except (ValueError, KeyError, TypeError):
            return {"op": "error", "message": "not a console action"}
        if op == "functions":
            return {"op": "functions", "functions": self._standings()}
        action = self.actions.get(op)
        if action is None:
            return {"op": "error", "message": f"unknown action {op!r}"}
        try:
            return {"op": op, "id": key, **await action(key)}
        except Exception as exc:  # an action's failure is shown, never fatal
            log.warning("relay: console action %s failed: %s", op, exc)
            return {"op": op, "id": key, "ok": False, "message": str(exc)}


def _response(status: int, content_type: str, body: bytes) -> Response:
    reasons = {200: "OK", 403: "Forbidden", 404: "Not Found"}
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws://127.0.0.1:*"),
        ]
    )
    return Response(status, reasons.get(status, "Error"), headers, body)


def _ignore_closed(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a client that went away is not an error
