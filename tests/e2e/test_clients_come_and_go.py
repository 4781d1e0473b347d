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


def _invoke(cloud_state: dict, event: dict) -> tuple[dict, str | None]:
    response = lambda_client(cloud_state).invoke(
        FunctionName=function(cloud_state, "Echo")["function_name"],
        Payload=json.dumps(event).encode(),
    )
    return json.loads(response["Payload"].read()), response.get("FunctionError")


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def _until(condition, what: str, timeout: float = 60.0) -> None:
    """Wait for a condition outside our process (a file the handlers write), with a deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


#: The stub's clear errors for an invocation whose client vanished (stub_session's kinds),
#: and the restarted client's refusal to run what the killed one had.
CRASH_ERRORS = {
    "RelayClientLost",
    "RelayClientNotConnected",
    "RelayTimeout",
    "Relay.ClientRestarted",
}


def test_clients_come_and_go(cloud: tuple[Path, dict]) -> None:
    app, state = cloud

    # 1. No client: a clear error naming the stage and the command (within 3 s of pauses:
    #    tests/link/test_stub_session.py checks the timing on the session's clock).
    result, error = _invoke(state, {"n": 0})
    assert error == "Unhandled"
    assert result["errorType"] == "RelayClientNotConnected"
    assert "relay start --stage e2e" in result["errorMessage"]

    # 2. A client attaches to the running emulator and serves.
    first = _client(app, name="first")
    first.wait_for(connected(app), "the first client to connect", timeout=120)
    assert "attached to the running emulator" in first.output
    assert _invoke(state, {"n": 1}) == ({"echo": {"n": 1}, "version": 1}, None)

    # 3. The client is killed (SIGKILL) mid-load and restarted at once: the invocations in
    #    flight get a clear error, none runs a second time, new ones succeed once it is back.
    marks = app / "runs.txt"
    session_id = json.loads((app / ".relay/stages/e2e/session.json").read_text())["connection_id"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        event = {"action": "sleep", "seconds": 4, "mark": str(marks)}
        futures = [pool.submit(_invoke, state, {**event, "i": i}) for i in range(4)]
        _until(lambda: len(_lines(marks)) == 4, "the four handlers to start")
        first.kill()
        second = _client(app, name="second")
        crashed = [f.result(timeout=60) for f in futures]
    for result, error in crashed:
        assert error == "Unhandled", result
        assert result["errorType"] in CRASH_ERRORS, result
        assert "relay start" in result["errorMessage"], result
    second.wait_for(connected(app, not_id=session_id), "the restarted client", timeout=120)

    # 4. Restarted, it serves the next invocations; the crashed ones never ran again.
    assert _invoke(state, {"n": 2}) == ({"echo": {"n": 2}, "version": 1}, None)
    assert sorted(_lines(marks)) == ["0", "1", "2", "3"]

    # 5. A newer client for the stage takes over; the older one says so and exits.
    second_id = json.loads((app / ".relay/stages/e2e/session.json").read_text())["connection_id"]
    third = _client(app, name="third")
    try:
        third.wait_for(connected(app, not_id=second_id), "the third client", timeout=120)
        assert second.proc is not None
        second.proc.wait(timeout=30)
        assert "replaced by another `relay start` for stage e2e" in second.output
        assert second.proc.returncode not in (0, None)
        assert _invoke(state, {"n": 3}) == ({"echo": {"n": 3}, "version": 1}, None)
    finally:
        third.stop()
        second.stop()
