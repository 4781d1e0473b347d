"""A small asyncio HTTP/1.1 keep-alive server for the emulator's AWS-style endpoints.

Why hand-written: the `@connections` and Invoke paths are hit twice per relayed invocation,
and a naive Python HTTP server stalls ~40 ms per response (Nagle + delayed ACK, DESIGN.md).
This one is an asyncio protocol that frames with relay's HTTP/1.1 codec (`relay.link.http1`,
shared with the Runtime API and the posters) and writes each response in a single write on a
TCP_NODELAY socket. It has no dependency beyond asyncio, so it is also cheap to start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, cast

from relay.link import http1

log = logging.getLogger("relay.emulator")

#: The largest request body any emulated endpoint accepts before it stops reading.
HARD_BODY_LIMIT = http1.MAX_BODY


@dataclass
class Request:
    """One parsed HTTP request; `path` and `query` are exactly as the client sent them."""

    method: str
    path: str
    query: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes
    peer: str

    @property
    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path

    def header(self, name: str, default: str | None = None) -> str | None:
        """Case-insensitive header value; repeated headers are joined with a comma."""
        return http1.header_value(self.headers, name, default)


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(
        cls, status: int, document: object, headers: list[tuple[str, str]] | None = None
    ) -> Response:
        return cls(
            status,
            json.dumps(document, separators=(",", ":")).encode(),
            [("Content-Type", "application/json"), *(headers or [])],
        )


Handler = Callable[[Request], Awaitable[Response]]


def encode_response(response: Response, *, keep_alive: bool, head: bool = False) -> bytes:
    """Status line, headers and body as one buffer, so the kernel sends one segment."""
    return http1.encode_response(
        response.status,
        response.body,
        response.headers,
        keep_alive=keep_alive,
        date=True,
        head=head,
    )


def _error(status: int, message: str) -> bytes:
    return encode_response(Response.json(status, {"message": message}), keep_alive=False)


#: Bytes a client may send ahead (pipelined) while its current request is answered.
_AHEAD_LIMIT = 1024 * 1024


class _Connection(asyncio.Protocol):
    """One client connection: requests parsed as their bytes arrive, answered in order.

    A protocol rather than asyncio streams: the bytes go straight into the parser, and the
    loop wakes a task only for a complete request (streams wake one per read).
    """

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._parser = http1.RequestParser(max_body=HARD_BODY_LIMIT)
        self._transport: asyncio.Transport | None = None
        self._peer = "127.0.0.1"
        self._busy = False  # a request is being answered; later ones wait in the parser
        self._ahead = 0  # bytes received while busy
        self._paused = False  # reading, while too much was sent ahead
        self._blocked = False  # writing: the client reads slower than we answer
        self._eof = False  # the client will send no more (it may still read)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport, though not an asyncio.Transport subclass under uvloop
        self._transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername")
        if peer:
            self._peer = peer[0]
        self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: ARG002
        # a request being answered still finishes (its invocation runs to the end)
        self._transport = None
        self._server.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        self._parser.feed(data)
        if not self._busy:
            self._next()
        else:
            self._ahead += len(data)
            if self._ahead > _AHEAD_LIMIT and not self._paused and self._transport is not None:
                self._paused = True
                self._transport.pause_reading()

    def eof_received(self) -> bool:
        self._eof = True
        if not self._busy:
            self._next()
        return True  # keep the writing side open for an answer still to come

    def pause_writing(self) -> None:
        self._blocked = True

    def resume_writing(self) -> None:
        self._blocked = False
        if not self._busy:
            self._next()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _next(self) -> None:
        """Start answering the next complete request, if one has arrived."""
        transport = self._transport
        if transport is None or transport.is_closing() or self._blocked:
            return
        try:
            parsed = self._parser.next()
        except http1.BodyTooLarge as exc:
            size = f"of {exc.length} bytes " if exc.length is not None else ""
            self._last(_error(413, f"Request body {size}is too large."))
            return
        except http1.HttpError as exc:
            if exc.status == 431:
                self._last(encode_response(Response(431), keep_alive=False))
            else:
                self._last(_error(exc.status, f"Bad request: {exc}"))
            return
        if parsed is None:
            if self._eof:
                transport.close()
                return
            if self._parser.continue_due():
                transport.write(http1.CONTINUE)
            if self._paused:
                self._paused = False
                transport.resume_reading()
            return
        self._busy = True
        self._ahead = 0
        self._server.answering(self._answer(parsed))

    def _last(self, data: bytes) -> None:
        """Write the connection's last answer, then close it (once written)."""
        if self._transport is not None:
            self._transport.write(data)
            self._transport.close()

    async def _answer(self, parsed: http1.Request) -> None:
        path, _, query = parsed.target.partition("?")
        request = Request(
            parsed.method, path, query, parsed.version, parsed.headers, parsed.body, self._peer
        )
        try:
            response = await self._server.handler(request)
        except Exception:
            log.exception("emulator: handler failed for %s %s", parsed.method, path)
            response = Response.json(
                500, {"message": "Internal error in relay's emulator; see its log."}
            )
        keep_alive = parsed.keep_alive
        try:
            data = encode_response(response, keep_alive=keep_alive, head=parsed.method == "HEAD")
        except http1.HttpError as exc:  # e.g. a header value with a line break
            log.error("emulator: unsendable response to %s %s: %s", parsed.method, path, exc)
            keep_alive = False
            data = _error(502, "Internal server error")
        transport = self._transport
        if transport is None or transport.is_closing():
            return  # the client left
        if not keep_alive:
            self._last(data)
            return
        transport.write(data)
        self._busy = False
        if not self._blocked:  # else once the client has read some (resume_writing)
            self._next()  # a pipelined request may be waiting


def bind(port: int = 0) -> socket.socket:
    """A listening loopback socket, bound now so its URL is known before the loop serves it."""
    sock = socket.create_server(("127.0.0.1", port), backlog=512)
    sock.setblocking(False)
    return sock


class HttpServer:
    """An asyncio server plus its open keep-alive connections, so closing it ends them too
    (Python 3.11's `Server.close` leaves accepted connections running)."""

    def __init__(self, handler: Handler, sock: socket.socket) -> None:
        self.handler = handler
        self._sock = sock
        self._server: asyncio.AbstractServer | None = None
        self.connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), sock=self._sock)

    def answering(self, answer: Coroutine[Any, Any, None]) -> None:
        """Run one request's answer (kept, so that `close` can cancel it)."""
        task = asyncio.get_running_loop().create_task(answer)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        if self._server is not None:
            await self._server.wait_closed()


async def serve(handler: Handler, sock: socket.socket) -> HttpServer:
    """Serve `handler` on an already bound socket (see `bind`)."""
    server = HttpServer(handler, sock)
    await server.start()
    return server
