"""One emulated cloud (`relay emulator`), clients that start, crash and take over.

This is the team workflow in miniature: the stage outlives any one `relay start`.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.e2e.conftest import APP
from tests.e2e.relay_process import STAGE, RelayProcess, connected, function, lambda_client


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict]]:
    app = tmp_path_factory.mktemp("e2e-clients") / "app"
    shutil.copytree(APP, app, ignore=shutil.ignore_patterns("__pycache__", "cdk.out"))
    emulator = RelayProcess(app, "emulator", "--stage", STAGE, name="emulator").start()
    state = app / ".relay" / "emulator.json"
    try:
        emulator.wait_for(state.exists, "the emulator's state file", timeout=240)
        yield app, json.loads(state.read_text())
    finally:
        emulator.stop()
    assert not state.exists(), "relay emulator must remove its state file on exit"


def _client(app: Path, *, name: str) -> RelayProcess:
    return RelayProcess(app, "start", "--local", "--via-stub", "--stage", STAGE, name=name).start()


def _invoke(cloud_state: dict, event: dict) -> tuple[dict, str | None, float]:
    started = time.monotonic()
    response = lambda_client(cloud_state).invoke(
        FunctionName=function(cloud_state, "Echo")["function_name"],
        Payload=json.dumps(event).encode(),
    )
    return (
        json.loads(response["Payload"].read()),
        response.get("FunctionError"),
        time.monotonic() - started,
    )


def test_clients_come_and_go(cloud: tuple[Path, dict]) -> None:
    app, state = cloud

    # 1. No client: a clear error after the stub's short no-client window (not the function's
    #    timeout, which would be RelayTimeout), naming the stage and the command.
    result, error, _ = _invoke(state, {"n": 0})
    assert error == "Unhandled"
    assert result["errorType"] == "RelayClientNotConnected", result
    assert "e2e" in result["errorMessage"]
    assert "relay start --stage e2e" in result["errorMessage"]

    # 2. A client attaches to the running emulator and serves.
    first = _client(app, name="first")
    first.wait_for(connected(app), "the first client to connect", timeout=120)
    assert "attached to the running emulator" in first.output
    assert _invoke(state, {"n": 1})[:2] == ({"echo": {"n": 1}, "version": 1}, None)

    # 3. The client crashes mid-load: in-flight invocations get a clear error, not a hang
    #    until the function's 10 s timeout.
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [
            pool.submit(_invoke, state, {"action": "sleep", "seconds": 4, "i": i}) for i in range(4)
        ]
        time.sleep(1.5)
        first.kill()
        crashed = [f.result(timeout=60) for f in futures]
    for result, error, _ in crashed:
        assert error == "Unhandled", result
        # the crash is noticed, not waited out until the 10 s timeout (RelayTimeout)
        assert result["errorType"] in ("RelayClientLost", "RelayClientNotConnected"), result
        assert "e2e" in result["errorMessage"], result

    # 4. Restarted, it serves the next invocations.
    session_id = json.loads((app / ".relay/stages/e2e/session.json").read_text())["connection_id"]
    second = _client(app, name="second")
    second.wait_for(connected(app, not_id=session_id), "the restarted client", timeout=120)
    assert _invoke(state, {"n": 2})[:2] == ({"echo": {"n": 2}, "version": 1}, None)

    # 5. A newer client for the stage takes over; the older one says so and exits.
    second_id = json.loads((app / ".relay/stages/e2e/session.json").read_text())["connection_id"]
    third = _client(app, name="third")
    try:
        third.wait_for(connected(app, not_id=second_id), "the third client", timeout=120)
        assert second.proc is not None
        second.proc.wait(timeout=30)
        assert "replaced by another `relay start` for stage e2e" in second.output
        assert second.proc.returncode not in (0, None)
        assert _invoke(state, {"n": 3})[:2] == ({"echo": {"n": 3}, "version": 1}, None)
    finally:
        third.stop()
        second.stop()
