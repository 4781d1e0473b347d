"""HTTP/1.1 framing, sans-I/O: one codec for every HTTP peer relay has.

The emulator's server, the Runtime API server and the two ``@connections`` posters (the relay
client's asyncio one and the stub's blocking one) feed the bytes they read to a parser and
write the bytes an encoder returns; sockets, timers and concurrency stay in those drivers.

Stdlib only and Python 3.9-compatible at import: this file is copied verbatim into the stub
asset as the top-level module ``http1``. Hand-written rather than h11: the stub asset has no
dependencies but the vendored websockets, and h11 costs about 10x this module's time per
message (bench/bench_http1.py) on paths every relayed invocation takes several times.

Parsers return whole messages: Content-Length and chunked bodies (extensions skipped,
trailers kept), header names case-insensitive, the keep-alive decision made from the HTTP
version and ``Connection``. A request that asks for ``Expect: 100-continue`` and whose body
has not all arrived makes :meth:`RequestParser.continue_due` true once, so the driver can
write :data:`CONTINUE`. Malformed input raises :class:`HttpError` (or a subclass), whose
``status`` is what a server answers it with.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Generic, TypeVar

__all__ = [
    "CONTINUE",
    "MAX_BODY",
    "MAX_HEAD",
    "REASONS",
    "BodyTooLarge",
    "HeadTooLarge",
    "Headers",
    "HttpError",
    "Request",
    "RequestParser",
    "Response",
    "ResponseParser",
    "encode_request",
    "encode_response",
    "header_value",
    "http_date",
]

#: The largest request or status line plus headers a parser accepts (and the trailers).
MAX_HEAD = 64 * 1024
#: The largest body a parser accepts unless told otherwise.
MAX_BODY = 16 * 1024 * 1024
#: The interim answer to ``Expect: 100-continue``.
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

_MAX_CHUNK_LINE = 4096
_HEX = b"0123456789abcdefABCDEF"

Headers = list[tuple[str, str]]  # (a PEP 585 alias: evaluated at import, fine on 3.9)

#: Reason phrases (Python 3.11's ``http.HTTPStatus``, without importing it: the stub's cold
#: start pays for every import).
REASONS = {
    100: "Continue",
    101: "Switching Protocols",
    102: "Processing",
    103: "Early Hints",
    200: "OK",
    201: "Created",
    202: "Accepted",
    203: "Non-Authoritative Information",
    204: "No Content",
    205: "Reset Content",
    206: "Partial Content",
    207: "Multi-Status",
    208: "Already Reported",
    226: "IM Used",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    305: "Use Proxy",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Requested Range Not Satisfiable",
    417: "Expectation Failed",
    418: "I'm a Teapot",
    421: "Misdirected Request",
    422: "Unprocessable Entity",
    423: "Locked",
    424: "Failed Dependency",
    425: "Too Early",
    426: "Upgrade Required",
    428: "Precondition Required",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    451: "Unavailable For Legal Reasons",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
    506: "Variant Also Negotiates",
    507: "Insufficient Storage",
    508: "Loop Detected",
    510: "Not Extended",
    511: "Network Authentication Required",
}


class HttpError(ValueError):
    """Input that is not HTTP/1.x relay can read; ``status`` is the answer a server gives."""

    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class HeadTooLarge(HttpError):
    """The request line and headers (or the trailers) exceed the parser's ``max_head``."""

    status = 431


class BodyTooLarge(HttpError):
    """The body exceeds the parser's ``max_body``; raised as soon as that is known.

    ``head`` is the message without its body (for a server that answers from its target),
    ``length`` the declared Content-Length (None for a chunked body).
    """

    status = 413

    def __init__(self, message: str, head: Request | Response, length: int | None) -> None:
        super().__init__(message)
        self.head = head
        self.length = length


def header_value(headers: Headers, name: str, default: str | None = None) -> str | None:
    """Case-insensitive header lookup; repeated headers are joined with a comma."""
    name = name.lower()
    values = [v for k, v in headers if k.lower() == name]
    return ",".join(values) if values else default


class _Message:
    """What requests and responses share: the head's version and headers, the body."""

    __slots__ = ("body", "headers", "keep_alive", "trailers", "version")
    _FIELDS: tuple[str, ...] = ()  # in constructor order, for == and repr

    # (set by the subclasses' constructors: one call per message on the hot path)
    version: str
    headers: Headers
    body: bytes
    #: whether the connection stays open after this message (HTTP version + Connection)
    keep_alive: bool
    trailers: Headers

    def header(self, name: str, default: str | None = None) -> str | None:
        return header_value(self.headers, name, default)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(
            getattr(self, name) == getattr(other, name) for name in self._FIELDS
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._FIELDS)
        return f"{type(self).__name__}({fields})"


class Request(_Message):
    """One request as received; ``target`` is exactly as the client sent it."""

    __slots__ = ("method", "target")
    _FIELDS = ("method", "target", "version", "headers", "body", "keep_alive", "trailers")

    def __init__(
        self,
        method: str,
        target: str,
        version: str,
        headers: Headers,
        body: bytes = b"",
        keep_alive: bool = True,
        trailers: Headers | None = None,
    ) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.trailers = trailers if trailers is not None else []


class Response(_Message):
    """One response as received (interim 1xx answers other than 101 are skipped)."""

    __slots__ = ("reason", "status")
    _FIELDS = ("status", "reason", "version", "headers", "body", "keep_alive", "trailers")

    def __init__(
        self,
        status: int,
        reason: str,
        version: str,
        headers: Headers,
        body: bytes = b"",
        keep_alive: bool = True,
        trailers: Headers | None = None,
    ) -> None:
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.trailers = trailers if trailers is not None else []


M = TypeVar("M", Request, Response)

# Body framing of the message being read.
_NONE, _LENGTH, _CHUNKED, _UNTIL_CLOSE = 0, 1, 2, 3
# Where a chunked body is.
_SIZE, _DATA, _TRAILER = 0, 1, 2


class _Parser(Generic[M]):
    """What request and response parsing share: the buffer, body framing, limits."""

    _skip_blank_lines = False

    def __init__(self, *, max_head: int = MAX_HEAD, max_body: int = MAX_BODY) -> None:
        self.max_head = max_head
        self.max_body = max_body
        self._buffer = bytearray()
        self._message: M | None = None  # head parsed, body pending
        self._framing = _NONE
        self._remaining = 0  # body bytes (or chunk bytes) still to come
        self._body = bytearray()  # a chunked (or until-close) body so far
        self._chunk_state = _SIZE
        self._trailer_bytes = 0
        self._length = -1  # the declared Content-Length, -1 without one
        self._expect = False  # the pending body was announced with Expect: 100-continue
        self._continue = False  # ...and the driver has not been told yet
        self._error: HttpError | None = None

    def feed(self, data: bytes) -> None:
        """Add bytes read from the connection; take messages with ``next``."""
        self._buffer += data

    @property
    def idle(self) -> bool:
        """Nothing of a next message has arrived (a safe point to close a connection)."""
        return self._message is None and not self._buffer

    def next(self) -> M | None:
        """The next complete message, or None until more bytes are fed.

        Raises :class:`HttpError` for malformed input; the parser then stays failed (the
        connection is out of step and must be closed after answering).
        """
        if self._error is not None:
            raise self._error
        buffer = self._buffer
        message = self._message
        try:
            if message is None:
                if self._skip_blank_lines and buffer.startswith(b"\r\n"):
                    # RFC 9112 2.2: ignore empty lines before a request line
                    while buffer.startswith(b"\r\n"):
                        del buffer[:2]
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(buffer) > self.max_head:
                        raise HeadTooLarge(f"the head is over {self.max_head} bytes")
                    return None
                if end > self.max_head:
                    raise HeadTooLarge(f"the head is over {self.max_head} bytes")
                message = self._parse_head(buffer[:end].decode("latin-1"))
                framing = self._framing
                if framing == _LENGTH:
                    if self._remaining > self.max_body:
                        raise BodyTooLarge(
                            f"the body of {self._remaining} bytes is over {self.max_body} bytes",
                            message,
                            self._remaining,
                        )
                    # the fast path: the whole message is in the buffer
                    stop = end + 4 + self._remaining
                    if len(buffer) >= stop:
                        message.body = bytes(buffer[end + 4 : stop])
                        del buffer[:stop]
                        return message
                del buffer[: end + 4]
                if framing == _NONE:
                    return message
                self._message = message
                self._continue = self._expect
            return self._rest_of_body(message)
        except HttpError as exc:
            self._error = exc
            raise

    def _rest_of_body(self, message: M) -> M | None:
        """The message once its body is complete (the head was parsed before)."""
        buffer = self._buffer
        framing = self._framing
        if framing == _LENGTH:
            if len(buffer) < self._remaining:
                return None
            message.body = bytes(buffer[: self._remaining])
            del buffer[: self._remaining]
        elif framing == _CHUNKED:
            if not self._read_chunks(message):
                return None
            message.body = bytes(self._body)
            self._body = bytearray()
        else:  # until close: see ResponseParser.feed_eof
            self._body += buffer
            del buffer[:]
            if len(self._body) > self.max_body:
                raise BodyTooLarge(f"the body is over {self.max_body} bytes", message, None)
            return None
        self._message = None
        return message

    def _parse_head(self, text: str) -> M:
        raise NotImplementedError

    def _headers(self, text: str, lines: list[str], version: str) -> tuple[Headers, bool]:
        """The header list from the head's lines (``lines[0]`` is the start line); sets the
        body framing; returns the headers and whether the connection is kept alive."""
        if text.count("\n") != len(lines) - 1 or text.count("\r") != len(lines) - 1:
            raise HttpError("bare CR or LF in the head (lines must end with CRLF)")
        headers: Headers = []
        length = -1
        chunked = False
        connection = ""
        expect = False
        append = headers.append
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or name != name.strip() or not name:
                raise HttpError(f"malformed header line {line[:80]!r}")
            value = value.strip()
            append((name, value))
            # (only the four framing headers matter here; most names start otherwise)
            if name[0] in "CcTtEe" and (lower := name.lower()) in _FRAMING:
                if lower == "content-length":
                    if not (value.isascii() and value.isdigit()) or len(value) > 18:
                        raise HttpError(f"bad Content-Length {value[:40]!r}")
                    if length >= 0 and int(value) != length:
                        raise HttpError("conflicting Content-Length headers")
                    length = int(value)
                elif lower == "transfer-encoding":
                    if value.lower() != "chunked" or chunked:  # no gzip etc. to undo
                        raise HttpError(
                            f"unsupported Transfer-Encoding {value[:40]!r} (only chunked)", 501
                        )
                    chunked = True
                elif lower == "connection":
                    connection = f"{connection},{value.lower()}" if connection else value.lower()
                else:  # expect
                    expect = value.lower() == "100-continue"
        if connection:
            tokens = [t.strip(" \t") for t in connection.split(",")]
            keep_alive = "close" not in tokens and (version != "HTTP/1.0" or "keep-alive" in tokens)
        else:
            keep_alive = version != "HTTP/1.0"
        # Transfer-Encoding wins over Content-Length (RFC 9112 6.3)
        if chunked:
            self._framing = _CHUNKED
            self._chunk_state = _SIZE
            self._remaining = 0
            self._trailer_bytes = 0
        elif length > 0:
            self._framing = _LENGTH
            self._remaining = length
        else:
            self._framing = _NONE
        self._length = length
        self._expect = expect and (chunked or length > 0)
        return headers, keep_alive

    def _read_chunks(self, message: M) -> bool:
        """Consume chunked framing from the buffer; True once the last chunk and trailers are in."""
        buffer = self._buffer
        while True:
            state = self._chunk_state
            if state == _SIZE:
                end = buffer.find(b"\r\n")
                if end < 0:
                    if len(buffer) > _MAX_CHUNK_LINE:
                        raise HttpError("chunk size line too long")
                    return False
                size_text = bytes(buffer[:end]).split(b";", 1)[0].strip(b" \t")
                if not size_text or size_text.lstrip(_HEX) or len(size_text) > 15:
                    raise HttpError(f"malformed chunk size {bytes(buffer[:end])[:40]!r}")
                size = int(size_text, 16)
                del buffer[: end + 2]
                if size == 0:
                    self._chunk_state = _TRAILER
                    continue
                if len(self._body) + size > self.max_body:
                    raise BodyTooLarge(
                        f"the chunked body is over {self.max_body} bytes", message, None
                    )
                self._remaining = size
                self._chunk_state = _DATA
            elif state == _DATA:
                if len(buffer) < self._remaining + 2:
                    return False
                if buffer[self._remaining : self._remaining + 2] != b"\r\n":
                    raise HttpError("chunk data not followed by CRLF")
                self._body += buffer[: self._remaining]
                del buffer[: self._remaining + 2]
                self._chunk_state = _SIZE
            else:  # trailers: header lines up to an empty one
                end = buffer.find(b"\r\n")
                if end < 0:
                    if self._trailer_bytes + len(buffer) > self.max_head:
                        raise HeadTooLarge(f"the trailers are over {self.max_head} bytes")
                    return False
                line = bytes(buffer[:end]).decode("latin-1")
                del buffer[: end + 2]
                self._trailer_bytes += end + 2
                if self._trailer_bytes > self.max_head:
                    raise HeadTooLarge(f"the trailers are over {self.max_head} bytes")
                if not line:
                    return True
                if "\r" in line or "\n" in line:
                    raise HttpError("bare CR or LF in a trailer")
                name, sep, value = line.partition(":")
                if not sep or not name or name[-1] in " \t" or name[0] in " \t":
                    raise HttpError(f"malformed trailer line {line[:80]!r}")
                message.trailers.append((name, value.strip(" \t")))


_FRAMING = frozenset(("content-length", "transfer-encoding", "connection", "expect"))


class RequestParser(_Parser[Request]):
    """Requests from one connection, in order (pipelined ones included)."""

    _skip_blank_lines = True

    def continue_due(self) -> bool:
        """True once per request that expects ``100 Continue`` and whose body is still
        to come: write :data:`CONTINUE` then."""
        due, self._continue = self._continue, False
        return due

    def _parse_head(self, text: str) -> Request:
        lines = text.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[0] or not parts[1]:
            raise HttpError(f"malformed request line {lines[0][:80]!r}")
        method, target, version = parts
        if version != "HTTP/1.1" and not _is_version(version):
            raise HttpError(f"malformed request line {lines[0][:80]!r}")
        headers, keep_alive = self._headers(text, lines, version)
        self._continue = False
        return Request(method, target, version, headers, b"", keep_alive)


class ResponseParser(_Parser[Response]):
    """Responses from one connection, in order.

    Tell it which answers are to HEAD requests (``expect_head``): theirs have no body.
    A response without Content-Length or chunked framing ends when the connection does:
    call :meth:`feed_eof` then.
    """

    def __init__(self, *, max_head: int = MAX_HEAD, max_body: int = MAX_BODY) -> None:
        super().__init__(max_head=max_head, max_body=max_body)
        self._heads = 0

    def expect_head(self) -> None:
        """The next response answers a HEAD request."""
        self._heads += 1

    def feed_eof(self) -> Response | None:
        """The server closed the connection: the response read until now, if it ends here.

        Raises :class:`HttpError` if a message was cut short.
        """
        message = self.next()
        if message is not None:
            return message
        if self._message is not None and self._framing == _UNTIL_CLOSE:
            message, self._message = self._message, None
            message.body = bytes(self._body)
            self._body = bytearray()
            return message
        if self._message is not None or self._buffer:
            self._error = HttpError("the connection closed in the middle of a response")
            raise self._error
        return None

    def next(self) -> Response | None:
        while True:
            message = super().next()
            # interim answers (100 Continue, 103 Early Hints) precede the real one
            if message is None or not 100 <= message.status < 200 or message.status == 101:
                return message

    def _parse_head(self, text: str) -> Response:
        lines = text.split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code, _, reason = rest.partition(" ")
        if not _is_version(version) or len(code) != 3 or not (code.isascii() and code.isdigit()):
            raise HttpError(f"malformed status line {lines[0][:80]!r}")
        status = int(code)
        headers, keep_alive = self._headers(text, lines, version)
        response = Response(status, reason, version, headers, b"", keep_alive)
        if status < 200 or status in (204, 304):
            self._framing = _NONE
        elif self._heads:
            self._heads -= 1
            self._framing = _NONE
        elif self._framing == _NONE and self._length < 0:
            self._framing = _UNTIL_CLOSE
            response.keep_alive = False
        return response


def _is_version(text: str) -> bool:
    return len(text) == 8 and text.startswith("HTTP/1.") and text[7] in "0123456789"


def _encode_head(lines: list[str]) -> bytes:
    head = "\r\n".join(lines)
    breaks = len(lines) - 1
    if head.count("\n") != breaks or head.count("\r") != breaks:
        raise HttpError("a header name or value contains CR or LF")
    return (head + "\r\n\r\n").encode("latin-1")


def encode_request(
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    *,
    host: str | None = None,
) -> bytes:
    """An HTTP/1.1 request in one buffer (one write: no Nagle / delayed-ACK stall).

    ``Host`` first when given, then ``headers`` in order, then ``Content-Length``.
    Raises :class:`HttpError` for a CR or LF in a header (it would split the message).
    """
    lines = [f"{method} {target} HTTP/1.1"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += [f"{name}: {value}" for name, value in headers]
    lines.append(f"Content-Length: {len(body)}")
    return _encode_head(lines) + body


def encode_response(
    status: int,
    body: bytes = b"",
    headers: Iterable[tuple[str, str]] = (),
    *,
    keep_alive: bool = True,
    date: bool = False,
    head: bool = False,
) -> bytes:
    """An HTTP/1.1 response in one buffer.

    ``headers`` in order, then ``Date`` (if ``date`` and not among them), ``Content-Length``
    (not for 1xx, 204, 304) and ``Connection: close`` when not ``keep_alive``. ``head``: the
    answer to a HEAD request (no body, the length of the body it would have).
    """
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if date and not any(line[:5].lower() == "date:" for line in lines):
        lines.append(f"Date: {http_date()}")
    if status < 200 or status == 204 or status == 304:
        body = b""
    else:
        lines.append(f"Content-Length: {len(body)}")
    if not keep_alive:
        lines.append("Connection: close")
    return _encode_head(lines) + (b"" if head else body)


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_date_cache: tuple[int, str] | None = None


def http_date(now: float | None = None) -> str:
    """An IMF-fixdate (``Tue, 01 Dec 2026 18:00:00 GMT``), cached per second."""
    global _date_cache
    second = int(time.time() if now is None else now)
    cached = _date_cache
    if cached is not None and cached[0] == second:
        return cached[1]
    t = time.gmtime(second)
    text = (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )
    _date_cache = (second, text)
    return text
