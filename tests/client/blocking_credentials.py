"""botocore credentials whose refresh blocks, as an SSO or STS refresh does on a slow network,
until the test's event loop releases it: if the refresh ran on the loop, the loop could not."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

from botocore.credentials import RefreshableCredentials

DEADLINE = 5.0


class BlockingRefresh:
    def __init__(self, access_key: str, secret_key: str, token: str | None) -> None:
        self.keys = (access_key, secret_key, token)
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def credentials(self) -> RefreshableCredentials:
        """Expired ones: the first get_frozen_credentials() refreshes."""
        expired = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        metadata = {"access_key": "old", "secret_key": "old", "token": "old"}
        return RefreshableCredentials.create_from_metadata(
            {**metadata, "expiry_time": expired}, self._refresh, "blocking-test"
        )

    def _refresh(self) -> dict[str, str | None]:
        self.calls += 1
        self.entered.set()
        if not self.release.wait(DEADLINE):
            raise AssertionError("the event loop was blocked while the credentials refreshed")
        access_key, secret_key, token = self.keys
        expiry = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        return {
            "access_key": access_key,
            "secret_key": secret_key,
            "token": token,
            "expiry_time": expiry,
        }

    async def release_from_the_loop(self) -> None:
        """Runs on the loop: it can release the refresh only while the loop is free."""
        entered = await asyncio.to_thread(self.entered.wait, DEADLINE)
        assert entered, "the credentials were never refreshed"
        self.release.set()
