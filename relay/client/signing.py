"""SigV4 for WebSocket handshakes (API Gateway checks IAM on ``$connect``) and for
``@connections`` posts.

botocore signs (never a hand-rolled signer). Used by the relay client and, copied verbatim
into the stub asset as ``signing.py``, by the stub; so it imports only stdlib and botocore.
"""

from __future__ import annotations

import socket
import threading
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

_SIGNED = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")


def with_query(url: str, params: dict[str, str]) -> str:
    """``url`` with ``params`` appended to its query string (sorted: stable signatures)."""
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(sorted(params.items()))) if q)
    return urlunsplit(parts._replace(query=query))


def handshake_headers(
    url: str, credentials: Any, region: str, service: str = "execute-api"
) -> dict[str, str]:
    """Headers that sign the WebSocket upgrade ``GET url`` with ``credentials``.

    ``credentials`` is anything botocore signs with (``access_key``, ``secret_key``,
    ``token``), e.g. ``boto3.Session().get_credentials().get_frozen_credentials()``.
    """
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    parts = urlsplit(url)
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
    request = AWSRequest(method="GET", url=urlunsplit(parts._replace(scheme=scheme)))
    SigV4Auth(credentials, service, region).add_auth(request)
    return {name: request.headers[name] for name in _SIGNED if name in request.headers}


class ConnectionGone(Exception):
    """``410 Gone`` from ``@connections``: the connection no longer exists."""


class ConnectionsApiError(Exception):
    """Any other failure of a ``@connections`` call; the message has AWS's answer.

    ``status`` is the HTTP status, None when the request failed before an answer.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ConnectionsApi:
    """``PostToConnection`` over a kept-alive HTTP connection, signed by botocore's SigV4.

    Measured here against the emulator, boto3's ``apigatewaymanagementapi`` client costs
    0.3-0.5 ms more per call than this, and the warm path makes two of them; creating the
    boto3 client would also add ~100 ms to the stub's cold start. ``http.client`` costs
    ~70 µs more CPU per post than the plain socket exchange below (header parsing through
    ``email``, a second write for bodies over 2 KB), which the stub pays on every invocation.
    One connection per thread.
    """

    def __init__(self, endpoint: str, credentials: Any, region: str, timeout: float = 10.0):
        """``credentials``: botocore credentials, or a callable returning them (refreshable)."""
        self.endpoint = endpoint.rstrip("/")
        self.region = region
        self.timeout = timeout
        self._credentials = credentials
        self._parts = urlsplit(self.endpoint)
        self._local = threading.local()

    def post(self, connection_id: str, data: bytes) -> None:
        """Send ``data`` to a connection; raises :class:`ConnectionGone` on 410."""
        from urllib.parse import quote

        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        path = f"{self._parts.path}/@connections/{quote(connection_id, safe='')}"
        url = urlunsplit(self._parts._replace(path=path))
        credentials = self._credentials() if callable(self._credentials) else self._credentials
        request = AWSRequest(method="POST", url=url, data=data)
        SigV4Auth(credentials, "execute-api", self.region).add_auth(request)
        lines = [f"POST {path} HTTP/1.1", f"Host: {self._parts.netloc}"]
        lines += [f"{k}: {v}" for k, v in request.headers.items() if k.lower() != "host"]
        lines.append(f"Content-Length: {len(data)}")
        message = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data
        for attempt in (1, 2):  # a kept-alive connection may have been closed by the server
            connection = getattr(self._local, "connection", None)
            fresh = connection is None
            try:
                if connection is None:
                    connection = self._local.connection = _KeepAlive(self._parts, self.timeout)
                status, body = connection.exchange(message)
                break
            except (OSError, ValueError) as exc:
                if connection is not None:
                    connection.close()
                self._local.connection = None
                if fresh or attempt == 2:
                    raise ConnectionsApiError(f"PostToConnection to {url} failed: {exc}") from None
        if status == 410:
            raise ConnectionGone(connection_id)
        if status >= 300:
            raise ConnectionsApiError(
                f"PostToConnection {connection_id} answered {status}: "
                f"{body[:300].decode('utf-8', 'replace')}",
                status,
            )

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


class _KeepAlive:
    """One HTTP/1.1 keep-alive connection: a request in one write, its response read back."""

    def __init__(self, parts: Any, timeout: float) -> None:
        tls = parts.scheme == "https"
        host = parts.hostname or "localhost"
        sock = socket.create_connection((host, parts.port or (443 if tls else 80)), timeout)
        # One write per request, but keep Nagle + delayed ACK out of the way regardless.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            import ssl

            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        self._sock = sock
        self._buffer = bytearray()
        self._open = True

    def exchange(self, message: bytes) -> tuple[int, bytes]:
        """Send one request, return (status, body); raises OSError/ValueError when broken."""
        if not self._open:
            raise OSError("the server closed the connection")
        self._sock.sendall(message)
        end = self._fill_until(b"\r\n\r\n")
        head = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        del self._buffer[: end + 4]
        version, _, rest = head[0].partition(" ")
        if not version.startswith("HTTP/1."):
            raise ValueError(f"not an HTTP response: {head[0][:60]!r}")
        status = int(rest.split(" ", 1)[0])
        length, chunked, keep = 0, False, version == "HTTP/1.1"
        for line in head[1:]:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = "chunked" in value
            elif name == "connection":
                keep = value == "keep-alive" or (keep and value != "close")
        body = self._chunked() if chunked else self._take(length)
        self._open = keep
        return status, body

    def close(self) -> None:
        self._open = False
        self._sock.close()

    def _fill_until(self, marker: bytes) -> int:
        while (end := self._buffer.find(marker)) < 0:
            self._read()
        return end

    def _take(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._read()
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _chunked(self) -> bytes:
        body = bytearray()
        while True:
            end = self._fill_until(b"\r\n")
            size = int(bytes(self._buffer[:end]).split(b";", 1)[0], 16)
            del self._buffer[: end + 2]
            chunk = self._take(size + 2)
            if size == 0:
                return bytes(body)  # (no trailers from API Gateway)
            body += chunk[:-2]

    def _read(self) -> None:
        data = self._sock.recv(65536)
        if not data:
            raise OSError("the server closed the connection")
        self._buffer += data
