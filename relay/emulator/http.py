"""A small asyncio HTTP/1.1 keep-alive server for the emulator's AWS-style endpoints.

Why hand-written: the `@connections` and Invoke paths are hit twice per relayed invocation,
and a naive Python HTTP server stalls ~40 ms per response (Nagle + delayed ACK, DESIGN.md).
This one parses a request with the stdlib, and writes each response in a single write on a
TCP_NODELAY socket. It has no dependency beyond asyncio, so it is also cheap to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus

log = logging.getLogger("relay.emulator")

#: The largest request body any emulated endpoint accepts before it stops reading.
HARD_BODY_LIMIT = 16 * 1024 * 1024
_HEAD_LIMIT = 64 * 1024


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
        name = name.lower()
        values = [v for k, v in self.headers if k.lower() == name]
        return ",".join(values) if values else default


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


class _BadRequest(Exception):
    pass


_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]


def encode_response(response: Response, *, keep_alive: bool, head: bool = False) -> bytes:
    """Status line, headers and body as one buffer, so the kernel sends one segment."""
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {response.status} {reason}"]
    names = set()
    for name, value in response.headers:
        names.add(name.lower())
        lines.append(f"{name}: {value}")
    if "date" not in names:
        lines.append(f"Date: {_http_date()}")
    if response.status not in (204, 304) and response.status >= 200:
        lines.append(f"Content-Length: {len(response.body)}")
    if not keep_alive:
        lines.append("Connection: close")
    head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if head or response.status in (204, 304):
        return head_bytes
    return head_bytes + response.body


def _parse_head(raw: bytes) -> tuple[str, str, str, list[tuple[str, str]]]:
    try:
        text = raw.decode("latin-1")
    except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes every byte
        raise _BadRequest("undecodable request head") from exc
    request_line, *header_lines = text[:-4].split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest(f"malformed request line {request_line[:80]!r}")
    method, target, version = parts
    headers: list[tuple[str, str]] = []
    for line in header_lines:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _BadRequest(f"malformed header line {line[:80]!r}")
        headers.append((name, value.strip()))
    return method, target, version, headers


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise _BadRequest("malformed chunk size") from exc
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return bytes(body)
        if len(body) + size > HARD_BODY_LIMIT:
            raise _BadRequest("request body too large")
        body += await reader.readexactly(size)
        await reader.readexactly(2)


async def _serve_connection(
    handler: Handler, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    peer = writer.get_extra_info("peername")
    peer_ip = peer[0] if peer else "127.0.0.1"
    try:
        while True:
            try:
                raw_head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            except asyncio.LimitOverrunError:
                writer.write(encode_response(Response(431), keep_alive=False))
                return
            try:
                method, target, version, headers = _parse_head(raw_head)
                lower = {k.lower(): v for k, v in headers}
                if "chunked" in lower.get("transfer-encoding", "").lower():
                    body = await _read_chunked(reader)
                else:
                    length = int(lower.get("content-length", "0") or "0")
                    if length < 0:
                        raise _BadRequest("negative Content-Length")
                    if length > HARD_BODY_LIMIT:
                        too_big = Response.json(
                            413,
                            {"message": f"Request body of {length} bytes is too large."},
                        )
                        writer.write(encode_response(too_big, keep_alive=False))
                        return
                    if length and lower.get("expect", "").lower() == "100-continue":
                        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    body = await reader.readexactly(length) if length else b""
            except (_BadRequest, ValueError) as exc:
                bad = Response.json(400, {"message": f"Bad request: {exc}"})
                writer.write(encode_response(bad, keep_alive=False))
                return
            path, _, query = target.partition("?")
            request = Request(method, path, query, version, headers, body, peer_ip)
            try:
                response = await handler(request)
            except Exception:
                log.exception("emulator: handler failed for %s %s", method, path)
                response = Response.json(
                    500, {"message": "Internal error in relay's emulator; see its log."}
                )
            connection = lower.get("connection", "").lower()
            keep_alive = connection != "close" and (
                version == "HTTP/1.1" or connection == "keep-alive"
            )
            writer.write(encode_response(response, keep_alive=keep_alive, head=method == "HEAD"))
            if not keep_alive:
                return
            if writer.transport.get_write_buffer_size() > 256 * 1024:
                await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
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
        self._server = await asyncio.start_server(
            self._on_connection, sock=self._sock, limit=_HEAD_LIMIT
        )

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
