"""An API Gateway WebSocket API on loopback: SigV4-checked `$connect`, routes to Lambda
functions, and the `@connections` management API (POST/GET/DELETE) on its own port.

Behaviour follows AWS's: a proxy event per route, `$connect` can refuse the handshake,
128 KB messages in frames of at most 32 KB (a bigger client message or frame closes the
connection with 1009; messages to clients go out in 32 KB fragments), 410 Gone for
connections that are not open, an idle timeout and a maximum connection duration (both
close with 1001).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as WsRequest
from websockets.http11 import Response as WsResponse
from websockets.protocol import State

from relay.emulator import http, ids
from relay.emulator.credentials import CredentialStore
from relay.emulator.errors import aws_error
from relay.emulator.functions import FunctionRegistry
from relay.emulator.sigv4 import Identity, SignatureError, verify, verify_request

log = logging.getLogger("relay.emulator")

MAX_MESSAGE_BYTES = 128 * 1024
MAX_FRAME_BYTES = 32 * 1024
IDLE_TIMEOUT = 600.0
MAX_CONNECTION_DURATION = 7200.0
INTEGRATION_TIMEOUT = 29.0


@dataclass(frozen=True)
class WebSocketApi:
    """How clients reach one emulated WebSocket API."""

    api_id: str
    name: str
    stage: str
    websocket_url: str
    connections_endpoint: str


@dataclass(frozen=True)
class Route:
    """A route's integration: a function, and whether its result is sent back (two-way)."""

    function: str
    return_response: bool = False


@dataclass
class _Connection:
    id: str
    ws: ServerConnection | None
    connected_at: float
    source_ip: str
    user_agent: str
    identity: Identity | None
    headers: list[tuple[str, str]]
    last_active: float = 0.0
    open: bool = True
    close_reason: tuple[int, str] | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


def _text_fragments(text: str, limit: int) -> list[str]:
    """Split ``text`` so each piece encodes to at most ``limit`` UTF-8 bytes."""
    data = text.encode()
    pieces: list[str] = []
    start = 0
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # not inside a character
            end -= 1
        pieces.append(data[start:end].decode())
        start = end
    return pieces


def _json_response(status: int, document: Mapping[str, Any]) -> WsResponse:
    body = json.dumps(document).encode()
    headers = Headers(
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ]
    )
    reason = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 500: "Internal Server Error"}
    return WsResponse(status, reason.get(status, "Error"), headers, body)


class WebSocketGateway:
    """One WebSocket API with one stage: a websockets server plus its management endpoint."""

    def __init__(
        self,
        *,
        name: str,
        stage: str,
        routes: Mapping[str, str | Route],
        functions: FunctionRegistry,
        store: CredentialStore,
        calls: Counter[str],
        region: str,
        auth: str = "AWS_IAM",
        idle_timeout: float = IDLE_TIMEOUT,
        max_duration: float = MAX_CONNECTION_DURATION,
        route_selection_key: str = "action",
    ) -> None:
        self.api_id = ids.api_id()
        self.name = name
        self.stage = stage
        self.routes = {k: v if isinstance(v, Route) else Route(v) for k, v in routes.items()}
        self.functions = functions
        self.store = store
        self.calls = calls
        self.region = region
        self.auth = auth
        self.idle_timeout = idle_timeout
        self.max_duration = max_duration
        self.route_selection_key = route_selection_key
        self._connections: dict[str, _Connection] = {}
        self._pending: dict[ServerConnection, _Connection] = {}
        self._ws_sock = http.bind()
        self._http_sock = http.bind()
        self._ws_server: Server | None = None
        self._http_server: http.HttpServer | None = None
        ws_port = self._ws_sock.getsockname()[1]
        http_port = self._http_sock.getsockname()[1]
        self.api = WebSocketApi(
            api_id=self.api_id,
            name=name,
            stage=stage,
            websocket_url=f"ws://127.0.0.1:{ws_port}/{stage}",
            connections_endpoint=f"http://127.0.0.1:{http_port}/{stage}",
        )
        self.domain_name = f"127.0.0.1:{ws_port}"

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self._ws_server = await serve(
            self._session,
            sock=self._ws_sock,
            process_request=self._handshake,
            max_size=(MAX_MESSAGE_BYTES, MAX_FRAME_BYTES),
            compression=None,
            ping_interval=None,
            open_timeout=INTEGRATION_TIMEOUT + 5,
            server_header=None,
        )
        self._http_server = await http.serve(self._management, self._http_sock)

    async def close(self) -> None:
        if self._http_server is not None:
            await self._http_server.close()
        if self._ws_server is not None:
            self._ws_server.close()
            await self._ws_server.wait_closed()

    # -- events ------------------------------------------------------------------------

    def _request_context(
        self, conn: _Connection, route_key: str, event_type: str
    ) -> dict[str, Any]:
        now = time.time()
        context: dict[str, Any] = {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": ids.gateway_request_id(),
            "requestTime": ids.request_time(now),
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": int(conn.connected_at * 1000),
            "requestTimeEpoch": int(now * 1000),
            "identity": self._identity(conn),
            "requestId": ids.gateway_request_id(),
            "domainName": self.domain_name,
            "connectionId": conn.id,
            "apiId": self.api_id,
        }
        return context

    @staticmethod
    def _identity(conn: _Connection) -> dict[str, Any]:
        identity: dict[str, Any] = {"sourceIp": conn.source_ip, "userAgent": conn.user_agent}
        if conn.identity is not None:
            identity.update(
                accountId=conn.identity.account_id,
                accessKey=conn.identity.access_key,
                caller=conn.identity.caller,
                user=conn.identity.caller,
                userArn=conn.identity.principal_arn,
                cognitoIdentityId=None,
                cognitoIdentityPoolId=None,
                principalOrgId=None,
            )
        return identity

    def _header_fields(self, conn: _Connection) -> dict[str, Any]:
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        port = self.domain_name.rsplit(":", 1)[1]
        for name, value in [
            *conn.headers,
            ("X-Forwarded-For", conn.source_ip),
            ("X-Forwarded-Port", port),
            ("X-Forwarded-Proto", "http"),
        ]:
            single[name] = value
            multi.setdefault(name, []).append(value)
        return {"headers": single, "multiValueHeaders": multi}

    async def _run_route(
        self,
        conn: _Connection,  # noqa: ARG002
        route_key: str,
        event: dict[str, Any],
    ) -> tuple[dict[str, Any] | None, str | None]:
        """Invoke the route's function; returns (parsed result, error text or None)."""
        route = self.routes[route_key]
        function = self.functions.get(route.function)
        if function is None:
            return (
                None,
                f"route {route_key} names function '{route.function}', which is not created",
            )
        invocation = asyncio.ensure_future(
            self.functions.invoke(function, json.dumps(event).encode())
        )
        try:
            result = await asyncio.wait_for(asyncio.shield(invocation), INTEGRATION_TIMEOUT)
        except TimeoutError:
            return None, "Endpoint request timed out"
        if result.function_error:
            log.warning(
                "emulator: %s route function %s failed: %s",
                route_key,
                route.function,
                result.payload[:500].decode(errors="replace"),
            )
            return None, "Internal server error"
        try:
            parsed = json.loads(result.payload or b"null")
        except ValueError:
            return None, "Internal server error"
        return (parsed if isinstance(parsed, dict) else {}), None

    # -- handshake ($connect) ----------------------------------------------------------

    async def _handshake(self, ws: ServerConnection, request: WsRequest) -> WsResponse | None:
        path, _, query = request.path.partition("?")
        if path.rstrip("/") != f"/{self.stage}":
            return _json_response(403, {"message": "Forbidden"})
        raw_headers = list(request.headers.raw_items())
        identity = None
        if self.auth == "AWS_IAM":
            try:
                identity = verify(
                    method="GET",
                    path=path,
                    query=query,
                    headers=raw_headers,
                    body=b"",
                    service="execute-api",
                    region=self.region,
                    store=self.store,
                )
            except SignatureError as exc:
                log.info("emulator: refused WebSocket connection: %s", exc.message)
                return _json_response(exc.status, {"message": exc.message})
        remote = ws.remote_address
        conn = _Connection(
            id=ids.connection_id(),
            ws=ws,
            connected_at=time.time(),
            source_ip=remote[0] if remote else "127.0.0.1",
            user_agent=request.headers.get("User-Agent", ""),
            identity=identity,
            headers=raw_headers,
        )
        conn.last_active = conn.connected_at
        self.calls["Connect"] += 1
        if "$connect" in self.routes:
            event: dict[str, Any] = {
                **self._header_fields(conn),
                "requestContext": self._request_context(conn, "$connect", "CONNECT"),
                "isBase64Encoded": False,
            }
            if query:
                pairs = parse_qsl(query, keep_blank_values=True)
                event["queryStringParameters"] = dict(pairs)
                multi: dict[str, list[str]] = {}
                for key, value in pairs:
                    multi.setdefault(key, []).append(value)
                event["multiValueQueryStringParameters"] = multi
            result, error = await self._run_route(conn, "$connect", event)
            if error is not None:
                return _json_response(
                    500 if error != "Endpoint request timed out" else 504,
                    {"message": error, "connectionId": conn.id},
                )
            status = result.get("statusCode", 200) if result else 200
            if not isinstance(status, int) or not 200 <= status < 300:
                body = result.get("body") if result else None
                status = status if isinstance(status, int) and 400 <= status < 600 else 403
                return WsResponse(
                    status,
                    "Forbidden" if status == 403 else "Refused",
                    Headers(
                        [
                            ("Content-Length", str(len(str(body or "").encode()))),
                            ("Connection", "close"),
                        ]
                    ),
                    str(body or "").encode(),
                )
        # Registered before the 101 is written, not in _session: websockets writes it as soon
        # as this returns and starts _session only after, so a thread that looked the id up
        # the moment its client saw the 101 could find nothing (or a post get 410).
        self._pending[ws] = conn
        self._connections[conn.id] = conn
        return None

    # -- an open connection --------------------------------------------------------------

    async def _session(self, ws: ServerConnection) -> None:
        conn = self._pending.pop(ws)
        watchdog = asyncio.create_task(self._watchdog(conn))
        close_code, close_reason = 1005, ""
        try:
            async for message in ws:
                conn.last_active = time.time()
                task = asyncio.create_task(self._message(conn, message))
                conn.tasks.add(task)
                task.add_done_callback(conn.tasks.discard)
        except ConnectionClosed:
            pass
        finally:
            watchdog.cancel()
            conn.open = False
            self._connections.pop(conn.id, None)
            if ws.close_code is not None:
                close_code, close_reason = ws.close_code, ws.close_reason or ""
            if conn.close_reason is not None:
                close_code, close_reason = conn.close_reason
            await self._disconnect(conn, close_code, close_reason)

    async def _watchdog(self, conn: _Connection) -> None:
        """Close idle connections and connections past the maximum duration, with 1001."""
        assert conn.ws is not None
        hard_stop = conn.connected_at + self.max_duration
        while True:
            now = time.time()
            deadline = min(conn.last_active + self.idle_timeout, hard_stop)
            if now >= deadline:
                conn.close_reason = (1001, "Going away")
                await conn.ws.close(1001, "Going away")
                return
            await asyncio.sleep(deadline - now)

    async def _disconnect(self, conn: _Connection, code: int, reason: str) -> None:
        self.calls["Disconnect"] += 1
        if "$disconnect" not in self.routes:
            return
        context = self._request_context(conn, "$disconnect", "DISCONNECT")
        context["disconnectStatusCode"] = code
        context["disconnectReason"] = reason
        event = {**self._header_fields(conn), "requestContext": context, "isBase64Encoded": False}
        try:
            await self._run_route(conn, "$disconnect", event)
        except Exception:
            log.exception("emulator: $disconnect for %s failed", conn.id)

    def _select_route(self, message: str | bytes) -> str | None:
        if isinstance(message, str) and self.route_selection_key:
            try:
                document = json.loads(message)
            except ValueError:
                document = None
            if isinstance(document, dict):
                key = document.get(self.route_selection_key)
                if isinstance(key, str) and key in self.routes and not key.startswith("$"):
                    return key
        return "$default" if "$default" in self.routes else None

    async def _message(self, conn: _Connection, message: str | bytes) -> None:
        try:
            route_key = self._select_route(message)
            request_id = ids.gateway_request_id()
            if route_key is None:
                await self._send(
                    conn, {"message": "Forbidden", "connectionId": conn.id, "requestId": request_id}
                )
                return
            self.calls["Route"] += 1
            context = self._request_context(conn, route_key, "MESSAGE")
            context["messageId"] = ids.gateway_request_id()
            context["requestId"] = request_id
            if isinstance(message, bytes):
                body, encoded = base64.b64encode(message).decode(), True
            else:
                body, encoded = message, False
            event = {"requestContext": context, "body": body, "isBase64Encoded": encoded}
            result, error = await self._run_route(conn, route_key, event)
            if error is not None:
                await self._send(
                    conn, {"message": error, "connectionId": conn.id, "requestId": request_id}
                )
                return
            if self.routes[route_key].return_response and result and "body" in result:
                out = result["body"]
                if result.get("isBase64Encoded"):
                    await self._deliver(conn, base64.b64decode(out))
                else:
                    await self._deliver(conn, str(out).encode())
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("emulator: routing a message on %s failed", conn.id)

    async def _send(self, conn: _Connection, document: Mapping[str, Any]) -> None:
        await self._deliver(conn, json.dumps(document).encode())

    @staticmethod
    async def _deliver(conn: _Connection, data: bytes) -> None:
        """Text when the data is UTF-8 (as API Gateway sends JSON), binary otherwise; in
        fragments of at most 32 KB, API Gateway's frame size."""
        assert conn.ws is not None
        try:
            text = data.decode()
        except UnicodeDecodeError:
            if len(data) <= MAX_FRAME_BYTES:
                await conn.ws.send(data)
            else:
                step = MAX_FRAME_BYTES
                await conn.ws.send([data[i : i + step] for i in range(0, len(data), step)])
            return
        if len(data) <= MAX_FRAME_BYTES:
            await conn.ws.send(text)
        else:
            await conn.ws.send(_text_fragments(text, MAX_FRAME_BYTES))

    # -- @connections management API ----------------------------------------------------

    async def _management(self, request: http.Request) -> http.Response:
        parts = request.path.split("/")
        # ['', stage, '@connections', id]
        if (
            len(parts) != 4
            or unquote(parts[1]) != self.stage
            or unquote(parts[2]) != "@connections"
            or request.method not in ("POST", "GET", "DELETE")
        ):
            return aws_error(
                404,
                "NotFoundException",
                f"No management operation at {request.method} {request.path}; the @connections "
                f"API serves POST, GET and DELETE /{self.stage}/@connections/{{connectionId}}.",
            )
        try:
            verify_request(request, service="execute-api", region=self.region, store=self.store)
        except SignatureError as exc:
            return aws_error(exc.status, exc.error_type, exc.message)
        connection_id = unquote(parts[3])
        conn = self._connections.get(connection_id)
        operation = {
            "POST": "PostToConnection",
            "GET": "GetConnection",
            "DELETE": "DeleteConnection",
        }[request.method]
        self.calls[operation] += 1
        if request.method == "POST" and len(request.body) > MAX_MESSAGE_BYTES:
            return aws_error(
                413,
                "PayloadTooLargeException",
                f"Message too long: {len(request.body)} bytes; the limit is "
                f"{MAX_MESSAGE_BYTES} bytes (128 KB) per message.",
            )
        if conn is not None and conn.ws is not None and conn.ws.state is State.CLOSED:
            # A handshake that failed after $connect accepted it never reaches _session.
            conn.open = False
            self._connections.pop(connection_id, None)
            self._pending.pop(conn.ws, None)
        if conn is None or not conn.open or conn.ws is None:
            return aws_error(
                410,
                "GoneException",
                f"Connection {connection_id} is not open (gone or never existed).",
            )
        if request.method == "POST":
            conn.last_active = time.time()
            try:
                await self._deliver(conn, request.body)
            except ConnectionClosed:
                return aws_error(410, "GoneException", f"Connection {connection_id} closed.")
            return http.Response(200, b"", [("x-amzn-RequestId", ids.request_id())])
        if request.method == "GET":
            return http.Response.json(
                200,
                {
                    "connectedAt": ids.iso8601(conn.connected_at),
                    "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent},
                    "lastActiveAt": ids.iso8601(conn.last_active),
                },
            )
        conn.open = False
        self._connections.pop(connection_id, None)
        conn.close_reason = (1000, "")
        closing = asyncio.get_running_loop().create_task(conn.ws.close(1000))
        conn.tasks.add(closing)
        closing.add_done_callback(conn.tasks.discard)
        return http.Response(204, b"", [("x-amzn-RequestId", ids.request_id())])
