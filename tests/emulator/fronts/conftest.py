"""Front-door fixtures: the fixture handlers as functions of the shared session emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from relay.emulator import Emulator
from relay.runtime import FunctionConfig

FIXTURES = Path(__file__).parent / "fixtures"


def fronts_config(name: str, handler: str, **kwargs: Any) -> FunctionConfig:
    return FunctionConfig(
        name=name, handler=f"fronts_handlers.{handler}", code_dir=FIXTURES, **kwargs
    )


@pytest.fixture(scope="session")
def fronts_emu(emu: Emulator) -> Emulator:
    for name, handler in [
        ("front-proxy", "proxy"),
        ("front-custom", "custom"),
        ("front-authorizer", "token_authorizer"),
    ]:
        emu.create_function(fronts_config(name, handler, timeout=10))
    return emu
