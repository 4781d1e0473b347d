"""Posting to a stub's connection: inline, or through the overflow bucket when too large.

A ``410 Gone`` is not a failure here: the stub lost its connection and will ask again under
the same invocation id, and the answer is kept for that (see ``invocations``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from relay.client.connections import AsyncConnectionsApi, ConnectionGone
from relay.link import messages

log = logging.getLogger("relay.client")

#: Attempts per message for failures other than 410 (network, 5xx after botocore-free retry).
POST_ATTEMPTS = 3


class Poster:
    """PostToConnection for the client's messages, with S3 overflow for large ones."""

    def __init__(
        self,
        stage: str,
        api: AsyncConnectionsApi,
        s3: Any,
        run_blocking: Callable[[Callable[[], Any]], Awaitable[Any]],
    ) -> None:
        self.stage = stage
        self.api = api
        self.s3 = s3
        self._run_blocking = run_blocking

    def plan(self, message: messages.Message, invoke: messages.Invoke) -> messages.Outbound:
        """The wire form; raises ProtocolError when too large and no bucket is configured."""
        return messages.plan_outbound(
            message,
            bucket=invoke.bucket,
            key=messages.overflow_key(self.stage, invoke.id, message.type),
        )

    async def post(
        self, reply_to: str, out: messages.Outbound, invoke: messages.Invoke, kind: str
    ) -> bool:
        """Deliver ``out``; False when it was not (410 Gone, or failed after retries)."""

        def upload() -> None:
            self.s3.put_object(Bucket=invoke.bucket, Key=out.upload_key, Body=out.upload_body)

        for attempt in range(POST_ATTEMPTS):
            try:
                if out.upload_key:
                    await self._run_blocking(upload)
                await self.api.post(reply_to, out.data)
                return True
            except ConnectionGone:
                log.info(
                    "relay: the stub's connection for %s is gone; keeping the %s for its retry",
                    invoke.id,
                    kind,
                )
                return False
            except Exception as exc:
                if attempt == POST_ATTEMPTS - 1:
                    log.warning("relay: could not post the %s of %s: %s", kind, invoke.id, exc)
                    return False
                await asyncio.sleep(0.05 * 2**attempt)
        return False  # pragma: no cover

    async def close(self) -> None:
        await self.api.close()
