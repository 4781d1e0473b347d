"""The Lambda Runtime API (2018-06-01) as an asyncio protocol, one listening port per worker.

A port per worker tells us which execution environment is calling without trusting anything
the runtime client sends. Each response is written in one ``transport.write`` (asyncio sets
TCP_NODELAY), which avoids the ~40 ms Nagle/delayed-ACK stall of split writes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Protocol, cast

from relay.link import http1

PREFIX = "/2018-06-01/runtime/"
#: Lambda's limit for a synchronous response; larger bodies are refused unread.
MAX_BODY_BYTES = 6291556
MAX_HEADER_BYTES = http1.MAX_HEAD


class RuntimeApiHandler(Protocol):
    """What the server asks of the worker it serves."""

    def on_next(self, conn: RuntimeApiConnection) -> None:
        """The runtime is ready; answer with ``conn.send_event`` when there is work."""

    def on_response(self, request_id: str, body: bytes) -> tuple[int, bytes]: ...

    def on_response_too_large(self, request_id: str, size: int) -> tuple[int, bytes]: ...

    def on_error(
        self, request_id: str, body: bytes, error_type: str | None
    ) -> tuple[int, bytes]: ...

    def on_init_error(self, body: bytes, error_type: str | None) -> tuple[int, bytes]: ...

    def on_connection_lost(self, conn: RuntimeApiConnection) -> None: ...


def http_response(
    status: int, body: bytes = b"", headers: Mapping[str, str] | None = None
) -> bytes:
    """A Runtime API answer: always JSON, never a Date (awslambdaric does not read it)."""
    if headers:
        return http1.encode_response(status, body, [*headers.items(), _JSON])
    # the answers without headers are a handful of constants (202 to every result, ...)
    key = (status, body)
    encoded = _ANSWERS.get(key)
    if encoded is None:
        encoded = http1.encode_response(status, body, [_JSON])
        if len(_ANSWERS) < 64 and len(body) <= 256:
            _ANSWERS[key] = encoded
    return encoded


_ANSWERS: dict[tuple[int, bytes], bytes] = {}


_JSON = ("Content-Type", "application/json")
_ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"


def _status_body(message: str, error_type: str) -> bytes:
    # json.dumps: the message may quote a path the runtime client sent
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


class RuntimeApiConnection(asyncio.Protocol):
    """One HTTP/1.1 keep-alive connection from a runtime client."""

    def __init__(self, handler: RuntimeApiHandler) -> None:
        self._handler = handler
        self._parser = http1.RequestParser(max_head=MAX_HEADER_BYTES, max_body=MAX_BODY_BYTES)
        self._transport: asyncio.Transport | None = None
        self.waiting_next = False

    # asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport, though not an asyncio.Transport subclass under uvloop
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: ARG002
        self._transport = None
        self._handler.on_connection_lost(self)

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        parser.feed(data)
        while self._transport is not None:
            try:
                request = parser.next()
            except http1.BodyTooLarge as exc:
                # Answer from the headers alone: buffering a runaway body helps nobody.
                self._refuse_too_large(exc)
                return
            except http1.HttpError as exc:
                message = str(exc)
                self._reply(400, _status_body(message[:1].upper() + message[1:], "InvalidRequest"))
                self.close()
                return
            if request is None:
                if parser.continue_due():
                    self._transport.write(http1.CONTINUE)
                return
            self._dispatch(request.method, request.target, request.headers, request.body)

    # API ---------------------------------------------------------------------------
    @property
    def open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def send_event(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """Answer the pending ``/next`` with an invocation; False if the runtime hung up."""
        if not self.open or not self.waiting_next:
            return False
        self.waiting_next = False
        assert self._transport is not None
        self._transport.write(http_response(200, body, headers))
        return True

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    # parsing ------------------------------------------------------------------------
    def _refuse_too_large(self, exc: http1.BodyTooLarge) -> None:
        target = exc.head.target if isinstance(exc.head, http1.Request) else ""
        parts = target.split("?", 1)[0][len(PREFIX) :].split("/")
        if (
            exc.length is not None
            and len(parts) == 3
            and parts[0] == "invocation"
            and parts[2] == "response"
        ):
            self._reply(*self._handler.on_response_too_large(parts[1], exc.length))
        else:
            self._reply(413, _status_body("Request too large", "RequestEntityTooLarge"))
        self.close()

    def _reply(self, status: int, body: bytes) -> None:
        if self.open:  # (uvloop raises on a write to a transport being closed)
            assert self._transport is not None
            self._transport.write(http_response(status, body))

    def _dispatch(self, method: str, target: str, headers: http1.Headers, body: bytes) -> None:
        path = target.split("?", 1)[0]
        if not path.startswith(PREFIX):
            self._reply(404, _status_body(f"Unknown path {path}", "InvalidRequest"))
            return
        parts = path[len(PREFIX) :].split("/")
        if parts == ["invocation", "next"] and method == "GET":
            self.waiting_next = True
            self._handler.on_next(self)
        elif len(parts) == 3 and parts[0] == "invocation" and method == "POST":
            request_id, kind = parts[1], parts[2]
            # The caller's result is ready now; let it resume before we answer the runtime
            # (the runtime waits for this answer only to ask for its next event).
            loop = asyncio.get_running_loop()
            if kind == "response":
                loop.call_soon(self._reply, *self._handler.on_response(request_id, body))
            elif kind == "error":
                error_type = http1.header_value(headers, _ERROR_TYPE)
                loop.call_soon(self._reply, *self._handler.on_error(request_id, body, error_type))
            else:
                self._reply(404, _status_body(f"Unknown path {path}", "InvalidRequest"))
        elif parts == ["init", "error"] and method == "POST":
            error_type = http1.header_value(headers, _ERROR_TYPE)
            self._reply(*self._handler.on_init_error(body, error_type))
        else:
            self._reply(404, _status_body(f"Unknown path {method} {path}", "InvalidRequest"))


async def serve(handler: RuntimeApiHandler) -> tuple[asyncio.AbstractServer, int]:
    """Listen on a fresh loopback port for one worker."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: RuntimeApiConnection(handler), host="127.0.0.1", port=0, backlog=8
    )
    port = server.sockets[0].getsockname()[1]
    return server, port
