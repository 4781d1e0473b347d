"""End-to-end fixtures: the probe CDK app copied to a temporary folder, served by relay's CLI.

Everything here goes through relay's real front doors: the `relay` command, the emulator's
Lambda Invoke API and function URLs, and the `@connections` API, all driven with boto3 or
plain HTTP.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.relay_process import STAGE, RelayProcess, connected, read_session

APP = Path(__file__).parent / "app"


@pytest.fixture(scope="session")
def probe_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("e2e") / "app"
    shutil.copytree(APP, target, ignore=shutil.ignore_patterns("__pycache__", "cdk.out"))
    return target


@pytest.fixture(scope="session")
def live(probe_app: Path) -> Iterator[dict]:
    """`relay start --local --via-stub --stage e2e` on the probe app, connected and ready: the
    whole relay path (stub, gateway, client), as in AWS."""
    relay = RelayProcess(probe_app, "start", "--local", "--via-stub", "--stage", STAGE).start()
    try:
        relay.wait_for(connected(probe_app), "the client to connect", timeout=240)
        session = read_session(probe_app)
        session["_process"] = relay
        yield session
    finally:
        relay.stop()
