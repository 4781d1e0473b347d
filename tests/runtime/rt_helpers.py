"""Helpers for the local runtime tests (a unique module name: tests/ has several conftests)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from relay.runtime import FunctionConfig

FIXTURES = Path(__file__).parent / "fixtures"


def fn(name: str, handler: str, code: str | Path = "basic", **kwargs: Any) -> FunctionConfig:
    code_dir = code if isinstance(code, Path) else FIXTURES / code
    return FunctionConfig(name=name, handler=handler, code_dir=code_dir, **kwargs)


async def until(condition: Callable[[], object], what: str, deadline_s: float = 30) -> None:
    """Poll an in-process ``condition`` (state with no event to await) with a deadline."""
    try:
        async with asyncio.timeout(deadline_s):
            while not condition():  # noqa: ASYNC110
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"{what} did not happen within {deadline_s} s") from None
