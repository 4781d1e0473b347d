"""``PostToConnection`` from asyncio: SigV4 by botocore, HTTP/1.1 keep-alive on loopback or TLS.

The relay client posts every answer; doing it on the event loop (instead of boto3 in a thread)
saves a thread hop and botocore's request machinery on the path each invocation takes.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from relay.client.credentials import CredentialCache
from relay.client.signing import ConnectionGone, ConnectionsApiError
from relay.link import http1

__all__ = ["AsyncConnectionsApi", "ConnectionGone", "ConnectionsApiError"]

_READ_SIZE = 65536

#: Kept-alive connections idle longer than this are closed, not reused: servers and load
#: balancers close idle ones on their side (API Gateway after ~60 s), and a write to such a
#: socket fails only after the request is lost.
MAX_IDLE = 30.0


class AsyncConnectionsApi:
    """A pool of kept-alive connections to one ``@connections`` endpoint."""

    def __init__(
        self,
        endpoint: str,
        credentials: Callable[[], Any],
        region: str,
        *,
        timeout: float = 10.0,
        max_idle: int = 16,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.region = region
        self.timeout = timeout
        #: resolved off the loop; the client primes it in a thread before its first post
        self.credentials = CredentialCache(credentials)
        self._parts = urlsplit(self.endpoint)
        self._tls = self._parts.scheme == "https"
        self._port = self._parts.port or (443 if self._tls else 80)
        self._idle: list[tuple[_Stream, float]] = []  # (connection, idle since), newest last
        self._max_idle = max_idle

    async def post(self, connection_id: str, data: bytes) -> None:
        """Send ``data`` to a connection; :class:`ConnectionGone` on 410."""
        status, body = await self._request("POST", connection_id, data)
        if status == 410:
            raise ConnectionGone(connection_id)
        if status >= 300:
            raise ConnectionsApiError(
                f"PostToConnection {connection_id} answered {status}: "
                f"{body[:300].decode('utf-8', 'replace')}",
                status,
            )

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for stream, _since in idle:
            stream.writer.close()

    def _pooled(self) -> _Stream | None:
        """The most recently used idle connection that is young enough, closing older ones."""
        now = time.monotonic()
        while self._idle:
            stream, since = self._idle.pop()
            if now - since <= MAX_IDLE and not stream.reader.at_eof():
                return stream
            stream.writer.close()
        return None

    async def _request(self, method: str, connection_id: str, data: bytes) -> tuple[int, bytes]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        path = f"{self._parts.path}/@connections/{quote(connection_id, safe='')}"
        request = AWSRequest(
            method=method, url=urlunsplit(self._parts._replace(path=path)), data=data
        )
        credentials = self.credentials.current() or await self.credentials.get()
        SigV4Auth(credentials, "execute-api", self.region).add_auth(request)
        signed = [(k, v) for k, v in request.headers.items() if k.lower() != "host"]
        message = http1.encode_request(method, path, signed, data, host=self._parts.netloc)
        for attempt in (1, 2):
            # A kept-alive connection may have been closed by the server: the retry always
            # opens a fresh one (the next pooled one is likely closed too, after a burst).
            stream = self._pooled() if attempt == 1 else None
            fresh = stream is None
            try:
                # asyncio.timeout, not wait_for: no task per post on the warm path
                async with asyncio.timeout(self.timeout):
                    if stream is None:
                        stream = await self._open()
                async with asyncio.timeout(self.timeout):
                    stream.writer.write(message)  # one write: no Nagle / delayed-ACK stall
                    response = await stream.response()
            except (OSError, ValueError, TimeoutError) as exc:
                if stream is not None:
                    stream.writer.close()
                if fresh:
                    raise ConnectionsApiError(f"PostToConnection failed: {exc}") from None
                continue
            if response.keep_alive and len(self._idle) < self._max_idle:
                self._idle.append((stream, time.monotonic()))
            else:
                stream.writer.close()
            return response.status, response.body
        raise AssertionError("unreachable")  # pragma: no cover

    async def _open(self) -> _Stream:
        context = ssl.create_default_context() if self._tls else None
        reader, writer = await asyncio.open_connection(
            self._parts.hostname, self._port, ssl=context
        )
        return _Stream(reader, writer)


class _Stream:
    """One kept-alive connection and the parser of its responses."""

    __slots__ = ("parser", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = http1.ResponseParser()

    async def response(self) -> http1.Response:
        """The next response; OSError if the server closed first, ValueError if malformed."""
        parser = self.parser
        while (response := parser.next()) is None:
            data = await self.reader.read(_READ_SIZE)
            if not data:
                response = parser.feed_eof()
                if response is None:
                    raise ConnectionResetError("the server closed the connection")
                return response
            parser.feed(data)
        return response
