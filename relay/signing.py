"""SigV4 for WebSocket handshakes: API Gateway checks IAM on ``$connect``.

botocore signs (never a hand-rolled signer). Used by the relay client and, copied verbatim
into the stub asset as ``signing.py``, by the stub; so it imports only stdlib and botocore.
"""

from __future__ import annotations

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
