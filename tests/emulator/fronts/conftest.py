"""Front-door fixtures: the fixture handlers as functions of the shared session emulator."""

from __future__ import annotations

import json
import time
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


EVENTS_BUCKET = "relay-fronts-events"


def recorder(emu: Emulator, name: str, **kwargs: Any) -> str:
    """A function that stores every event it gets under `name/` in EVENTS_BUCKET."""
    emu.create_function(
        fronts_config(
            name,
            "recorder",
            timeout=30,
            environment={"RECORD_BUCKET": EVENTS_BUCKET, "RECORD_PREFIX": name},
            **kwargs,
        )
    )
    return name


def recorded(emu: Emulator, prefix: str, count: int, timeout: float = 30.0) -> list[Any]:
    """The events `prefix`'s recorder stored, in order, once there are at least `count`."""
    s3 = emu.service_client("s3")
    deadline = time.monotonic() + timeout
    while True:
        listing = s3.list_objects_v2(Bucket=EVENTS_BUCKET, Prefix=f"{prefix}/")
        keys = sorted(o["Key"] for o in listing.get("Contents", []))
        if len(keys) >= count:
            return [
                json.loads(s3.get_object(Bucket=EVENTS_BUCKET, Key=k)["Body"].read()) for k in keys
            ]
        if time.monotonic() > deadline:
            raise AssertionError(f"{prefix}: {len(keys)} event(s) within {timeout} s, not {count}")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def events_bucket(emu: Emulator) -> str:
    emu.service_client("s3").create_bucket(Bucket=EVENTS_BUCKET)
    return EVENTS_BUCKET
