"""The event loops a server test runs on: asyncio's, and uvloop's (relay start's) where installed.

Use as a module's ``anyio_backend`` fixture: ``anyio_backend = loops.fixture()``.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

LOOPS: list[Any] = [pytest.param("asyncio", id="asyncio")]
if importlib.util.find_spec("uvloop") is not None:
    LOOPS.append(pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"))


def fixture() -> Any:
    @pytest.fixture(params=LOOPS)
    def anyio_backend(request: pytest.FixtureRequest) -> Any:
        return request.param

    return anyio_backend
