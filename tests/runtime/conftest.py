"""Shared parts for the local runtime tests: real worker processes, no mocks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relay.runtime import LocalRuntime


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[LocalRuntime]:
    async with LocalRuntime(watch=False, max_workers=4, pycache_dir=tmp_path / "pyc") as rt:
        yield rt
