"""SigV4 for WebSocket handshakes (API Gateway checks IAM on ``$connect``) and for
``@connections`` posts.

botocore signs (never a hand-rolled signer). Used by the relay client and, copied verbatim
into the stub asset as ``signing.py``, by the stub; so it imports only stdlib and botocore.
"""

from __future__ import annotations

import http.client
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
    """Any other failure of a ``@connections`` call; the message has AWS's answer."""


class ConnectionsApi:
    """``PostToConnection`` over a kept-alive HTTP connection, signed by botocore's SigV4.

    Measured here against the emulator, boto3's ``apigatewaymanagementapi`` client costs
    0.3-0.5 ms more per call than this, and the warm path makes two of them; creating the
    boto3 client would also add ~100 ms to the stub's cold start. One connection per thread.
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
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        for attempt in (1, 2):  # a kept-alive connection may have been closed by the server
            connection = None
            try:
                connection = self._connection()
                connection.request("POST", path, body=data, headers=headers)
                response = connection.getresponse()
                body = response.read()
                break
            except (OSError, http.client.HTTPException) as exc:
                if connection is not None:
                    connection.close()
                self._local.connection = None
                if attempt == 2:
                    raise ConnectionsApiError(f"PostToConnection to {url} failed: {exc}") from None
        if response.status == 410:
            raise ConnectionGone(connection_id)
        if response.status >= 300:
            raise ConnectionsApiError(
                f"PostToConnection {connection_id} answered {response.status}: "
                f"{body[:300].decode('utf-8', 'replace')}"
            )

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def _connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            cls = (
                http.client.HTTPSConnection
                if self._parts.scheme == "https"
                else http.client.HTTPConnection
            )
            connection = cls(self._parts.netloc, timeout=self.timeout)
            connection.connect()
            # http.client writes a body over 2000 bytes separately from the headers: without
            # TCP_NODELAY, Nagle + delayed ACK stall that second write by up to 40 ms.
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._local.connection = connection
        return connection
