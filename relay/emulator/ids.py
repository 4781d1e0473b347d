"""Identifiers and timestamps shaped like the ones API Gateway and Lambda hand out."""

from __future__ import annotations

import os
import random
import secrets
import string
import time
from datetime import UTC, datetime

_ALNUM = string.ascii_letters + string.digits
_LOWER = string.ascii_lowercase + string.digits


def connection_id() -> str:
    """16 characters ending in '=' like `L0SM9cOFvHcCIhw=`; URL-safe without quoting."""
    return "".join(secrets.choice(_ALNUM) for _ in range(15)) + "="


def api_id() -> str:
    """10 lower-case alphanumerics, like an API Gateway or function URL id."""
    return "".join(secrets.choice(_LOWER) for _ in range(10))


#: Request ids only need to be unique, not secret: one C call instead of uuid4's getrandom
#: syscall and UUID object (~4 µs of the serving loop per function URL or API request).
_ids = random.Random(os.urandom(32))
# uuid4's version (4) and RFC 4122 variant bits
_VERSION_MASK = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_BITS = (0x4000 << 64) | (0x8000 << 48)


def request_id() -> str:
    """A random UUID (version 4) in its usual text form, like Lambda's request ids."""
    h = f"{(_ids.getrandbits(128) & _VERSION_MASK) | _VERSION_BITS:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def gateway_request_id() -> str:
    """Like `connection_id`, for API Gateway's request ids (not secret: `_ids`, not secrets)."""
    return "".join(_ids.choices(_ALNUM, k=15)) + "="


def request_time(epoch: float | None = None) -> str:
    """`09/Apr/2020:18:03:17 +0000`, API Gateway's requestTime format."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch or time.time()))


def iso8601(epoch: float) -> str:
    """`2020-04-09T18:03:17.123Z`, the management API's timestamp format."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
