"""The shop app served by `relay start --local --stage rec` (recording and console on), shared
by the record and console tests as a pytest plugin (registered in tests/conftest.py)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from relay.record.store import EventStore
from tests.e2e.relay_process import RelayProcess, connected, lambda_client, read_session

APP = Path(__file__).parent / "app"
STAGE = "rec"


def relay_command(app: Path, stage: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A relay command as a developer runs it in the app's folder."""
    return subprocess.run(
        [sys.executable, "-m", "relay", *args, "--stage", stage, "--app", str(app)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=app,
    )


@pytest.fixture(scope="session")
def shop_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("record") / "shop"
    shutil.copytree(APP, target, ignore=shutil.ignore_patterns("__pycache__", "cdk.out"))
    return target


@pytest.fixture(scope="session")
def shop(shop_app: Path) -> Iterator[dict[str, Any]]:
    """`relay start --local --stage rec` on the shop app, connected; its session and log."""
    relay = RelayProcess(shop_app, "start", "--local", "--stage", STAGE).start()
    try:
        relay.wait_for(connected(shop_app, STAGE), "the client to connect", timeout=240)
        session = read_session(shop_app, STAGE)
        relay.wait_for(lambda: "relay: console: " in relay.output, "the console URL", timeout=30)
        session["_process"] = relay
        session["_app"] = shop_app
        session["_console"] = re.search(r"relay: console: (\S+)", relay.output).group(1)
        yield session
    finally:
        relay.stop()


def function_url(session: dict[str, Any], suffix: str) -> str:
    return next(f["function_url"] for f in session["functions"] if f["path"].endswith(suffix))


def function_name(session: dict[str, Any], suffix: str) -> str:
    return next(f["function_name"] for f in session["functions"] if f["path"].endswith(suffix))


def post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", **(headers or {})},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, json.loads(response.read())


def invoke(session: dict[str, Any], suffix: str, event: Any) -> dict[str, Any]:
    answer = lambda_client(session).invoke(
        FunctionName=function_name(session, suffix), Payload=json.dumps(event).encode()
    )
    return {
        "error": answer.get("FunctionError"),
        "payload": json.loads(answer["Payload"].read()),
        "request_id": answer["ResponseMetadata"]["RequestId"],
    }


def events_folder(app: Path) -> Path:
    return app / ".relay" / "stages" / STAGE / "events"


def wait_for_record(
    app: Path, match: Callable[[dict[str, Any]], bool], timeout: float = 30.0
) -> dict[str, Any]:
    """The recording that ``match`` accepts, once the recorder has written it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for _, record in EventStore(events_folder(app)).records():  # whole ones only
            if match(record):
                return record
        time.sleep(0.02)
    raise AssertionError(f"no matching recording in {events_folder(app)} within {timeout} s")
