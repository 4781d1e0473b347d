"""Identifiers and timestamps shaped like the ones API Gateway and Lambda hand out."""

from __future__ import annotations

import secrets
import string
import time
import uuid
from datetime import UTC, datetime

_ALNUM = string.ascii_letters + string.digits
_LOWER = string.ascii_lowercase + string.digits


def connection_id() -> str:
    """16 characters ending in '=' like `L0SM9cOFvHcCIhw=`; URL-safe without quoting."""
    return "".join(secrets.choice(_ALNUM) for _ in range(15)) + "="


def api_id() -> str:
    """10 lower-case alphanumerics, like an API Gateway or function URL id."""
    return "".join(secrets.choice(_LOWER) for _ in range(10))


def request_id() -> str:
    return str(uuid.uuid4())


def gateway_request_id() -> str:
    return connection_id()


def request_time(epoch: float | None = None) -> str:
    """`09/Apr/2020:18:03:17 +0000`, API Gateway's requestTime format."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch or time.time()))


def iso8601(epoch: float) -> str:
    """`2020-04-09T18:03:17.123Z`, the management API's timestamp format."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
