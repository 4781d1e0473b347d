"""A small asyncio HTTP/1.1 keep-alive server for the emulator's AWS-style endpoints.

Why hand-written: the `@connections` and Invoke paths are hit twice per relayed invocation,
and a naive Python HTTP server stalls ~40 ms per response (Nagle + delayed ACK, DESIGN.md).
This one reads with asyncio streams, frames with relay's HTTP/1.1 codec (`relay.link.http1`,
shared with the Runtime API and the posters) and writes each response in a single write on a
TCP_NODELAY socket. It has no dependency beyond asyncio, so it is also cheap to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from relay.link import http1

log = logging.getLogger("relay.emulator")

#: The largest request body any emulated endpoint accepts before it stops reading.
HARD_BODY_LIMIT = http1.MAX_BODY
_READ_SIZE = 256 * 1024


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


async def _serve_connection(
    handler: Handler, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    peer = writer.get_extra_info("peername")
    peer_ip = peer[0] if peer else "127.0.0.1"
    parser = http1.RequestParser(max_body=HARD_BODY_LIMIT)
    try:
        while True:
            try:
                parsed = parser.next()
            except http1.BodyTooLarge as exc:
                size = f"of {exc.length} bytes " if exc.length is not None else ""
                writer.write(_error(413, f"Request body {size}is too large."))
                return
            except http1.HttpError as exc:
                if exc.status == 431:
                    writer.write(encode_response(Response(431), keep_alive=False))
                else:
                    writer.write(_error(exc.status, f"Bad request: {exc}"))
                return
            if parsed is None:
                if parser.continue_due():
                    writer.write(http1.CONTINUE)
                data = await reader.read(_READ_SIZE)
                if not data:
                    return
                parser.feed(data)
                continue
            path, _, query = parsed.target.partition("?")
            request = Request(
                parsed.method, path, query, parsed.version, parsed.headers, parsed.body, peer_ip
            )
            try:
                response = await handler(request)
            except Exception:
                log.exception("emulator: handler failed for %s %s", parsed.method, path)
                response = Response.json(
                    500, {"message": "Internal error in relay's emulator; see its log."}
                )
            keep_alive = parsed.keep_alive
            try:
                data = encode_response(
                    response, keep_alive=keep_alive, head=parsed.method == "HEAD"
                )
            except http1.HttpError as exc:  # e.g. a header value with a line break
                log.error("emulator: unsendable response to %s %s: %s", parsed.method, path, exc)
                keep_alive = False
                data = _error(502, "Internal server error")
            writer.write(data)
            if not keep_alive:
                return
            if writer.transport.get_write_buffer_size() > 256 * 1024:
                await writer.drain()
    except ConnectionError:
        return
    finally:
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()


def bind(port: int = 0) -> socket.socket:
    """A listening loopback socket, bound now so its URL is known before the loop serves it."""
    sock = socket.create_server(("127.0.0.1", port), backlog=512)
    sock.setblocking(False)
    return sock


class HttpServer:
    """An asyncio server plus its open keep-alive connections, so closing it ends them too
    (Python 3.11's `Server.close` leaves accepted connections running)."""

    def __init__(self, handler: Handler, sock: socket.socket) -> None:
        self._handler = handler
        self._sock = sock
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_connection, sock=self._sock)

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            await _serve_connection(self._handler, reader, writer)
        except asyncio.CancelledError:
            pass  # closing; 3.11's start_server callback chokes on a cancelled task
        finally:
            self._writers.discard(writer)
            self._tasks.discard(task)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
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
