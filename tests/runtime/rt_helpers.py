"""Helpers for the local runtime tests (a unique module name: tests/ has several conftests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from relay.runtime import FunctionConfig

FIXTURES = Path(__file__).parent / "fixtures"


def fn(name: str, handler: str, code: str | Path = "basic", **kwargs: Any) -> FunctionConfig:
    code_dir = code if isinstance(code, Path) else FIXTURES / code
    return FunctionConfig(name=name, handler=handler, code_dir=code_dir, **kwargs)
