"""The developer's credentials for relay's asyncio client, resolved off the event loop.

botocore's ``get_credentials().get_frozen_credentials()`` may resolve or refresh them (SSO,
STS AssumeRole, the container or instance metadata endpoints: network calls under a lock),
which must never stall relay's loop and every invocation on it. The client resolves them
once before serving (in a thread); a value older than a minute is refreshed in a thread while
the one in hand is still used: botocore itself refreshes 10-15 minutes before expiry.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How long a resolved value is used before it is resolved again (in a thread).
REUSE_FOR = 60.0


class CredentialCache(Generic[T]):
    """``resolve()``'s value, resolved off the event loop: ``prime()`` in a thread before the
    loop needs it, or ``await get()``; ``current()`` never blocks."""

    def __init__(self, resolve: Callable[[], T], reuse_for: float = REUSE_FOR) -> None:
        self._resolve = resolve
        self._reuse_for = reuse_for
        self._value: T | None = None
        self._until = 0.0
        self._refreshing = threading.Lock()  # one resolution at a time

    def prime(self) -> T:
        """Resolve now (blocking: call it from a thread)."""
        with self._refreshing:
            if self._value is not None and time.monotonic() < self._until:
                return self._value  # resolved meanwhile by another caller
            return self._store(self._resolve())

    def current(self) -> T | None:
        """The value in hand (None before the first resolution); a stale one starts a refresh
        in a thread and is still returned."""
        value = self._value
        stale = value is not None and time.monotonic() >= self._until
        if stale and self._refreshing.acquire(blocking=False):
            threading.Thread(target=self._refresh, name="relay-credentials", daemon=True).start()
        return value

    async def get(self) -> T:
        value = self.current()
        if value is None:
            value = await asyncio.to_thread(self.prime)
        return value

    def _refresh(self) -> None:
        try:
            self._store(self._resolve())
        except Exception as exc:  # the value in hand stays; the next use tries again
            log.warning("relay: refreshing AWS credentials failed: %s", exc)
        finally:
            self._refreshing.release()

    def _store(self, value: T) -> T:
        self._value, self._until = value, time.monotonic() + self._reuse_for
        return value
