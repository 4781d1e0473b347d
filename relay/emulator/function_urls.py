"""Lambda function URLs: each on its own loopback port, so `rawPath` is the caller's path.

Requests become payload format 2.0 events; results are mapped back as Lambda does: a dict
with `statusCode` is an HTTP response (headers, cookies, base64 bodies); any other valid
JSON is a 200 `application/json` response whose body is the function's output verbatim;
a function error (or unparsable output) is a 502.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from typing import Any
from urllib.parse import parse_qsl

from relay.emulator import http, ids
from relay.emulator.fronts.proxy_events import MalformedResponse, add_body_v2, map_v2_response
from relay.emulator.functions import Function, FunctionRegistry

log = logging.getLogger("relay.emulator")

REQUEST_LIMIT = 6 * 1024 * 1024


def build_event(
    request: http.Request,
    url_id: str,
    domain: str,
    account_id: str,  # noqa: ARG001
) -> dict[str, Any]:
    """The payload format 2.0 event Lambda builds for a function URL request."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        lname = name.lower()
        if lname == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        headers[lname] = f"{headers[lname]},{value}" if lname in headers else value
    headers.setdefault("x-forwarded-for", request.peer)
    headers.setdefault("x-forwarded-proto", "http")
    headers.setdefault("x-forwarded-port", domain.rsplit(":", 1)[1])
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": request.path,
        "rawQueryString": request.query,
        "headers": headers,
    }
    if cookies:
        event["cookies"] = cookies
    if request.query:
        params: dict[str, str] = {}
        for key, value in parse_qsl(request.query, keep_blank_values=True):
            params[key] = f"{params[key]},{value}" if key in params else value
        event["queryStringParameters"] = params
    event["requestContext"] = {
        "accountId": "anonymous",
        "apiId": url_id,
        "domainName": domain,
        "domainPrefix": url_id,
        "http": {
            "method": request.method,
            "path": request.path,
            "protocol": request.version,
            "sourceIp": request.peer,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": ids.request_id(),
        "routeKey": "$default",
        "stage": "$default",
        "time": ids.request_time(now),
        "timeEpoch": int(now * 1000),
    }
    add_body_v2(event, request.body, headers.get("content-type"))
    return event


_BAD_GATEWAY = http.Response.json(502, {"Message": "Internal Server Error"})


def map_result(payload: bytes, function_error: str | None) -> http.Response:
    """Lambda's function URL response mapping (see the module docstring)."""
    if function_error:
        return _BAD_GATEWAY
    try:
        return map_v2_response(payload)
    except MalformedResponse:
        return _BAD_GATEWAY


class FunctionUrl:
    """One function's URL endpoint."""

    def __init__(
        self, function: Function, functions: FunctionRegistry, calls: Counter[str]
    ) -> None:
        self.name = function.name
        self.functions = functions
        self.calls = calls
        self.url_id = ids.api_id() + ids.api_id()
        self._sock = http.bind()
        self.domain = f"127.0.0.1:{self._sock.getsockname()[1]}"
        self.url = f"http://{self.domain}/"
        self._server: http.HttpServer | None = None

    async def start(self) -> None:
        self._server = await http.serve(self.handle, self._sock)

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    async def handle(self, request: http.Request) -> http.Response:
        self.calls["InvokeFunctionUrl"] += 1
        function = self.functions.get(self.name)
        if function is None:  # pragma: no cover - functions are never deleted
            return http.Response.json(404, {"Message": "Function not found"})
        if len(request.body) > REQUEST_LIMIT:
            return http.Response.json(
                413,
                {
                    "Message": f"Request must be smaller than {REQUEST_LIMIT} bytes for the "
                    "InvokeFunction operation"
                },
            )
        event = build_event(request, self.url_id, self.domain, self.functions.account_id)
        result = await self.functions.invoke(
            function, json.dumps(event).encode(), request_id=event["requestContext"]["requestId"]
        )
        if result.function_error:
            log.warning(
                "emulator: function URL of %s: function error %s",
                self.name,
                result.payload[:500].decode(errors="replace"),
            )
        return map_result(result.payload, result.function_error)
