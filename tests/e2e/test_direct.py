"""Direct mode, the embedded default: `relay start --local` with the emulator in relay's own
process, its front doors calling the local runtime (no stub, no WebSocket client).

Without a client, an invocation that went through the stub would fail with
`RelayClientNotConnected`; every answer below therefore came the direct way.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import APP
from tests.e2e.relay_process import (
    STAGE,
    RelayProcess,
    connected,
    function,
    lambda_client,
    read_session,
)


@pytest.fixture(scope="module")
def direct(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    app = tmp_path_factory.mktemp("direct") / "app"
    shutil.copytree(APP, app, ignore=shutil.ignore_patterns("__pycache__", "cdk.out"))
    relay = RelayProcess(app, "start", "--local", "--stage", STAGE).start()
    try:
        relay.wait_for(connected(app), "relay to be ready", timeout=240)
        session = read_session(app)
        session["_process"], session["_app"] = relay, app
        yield session
    finally:
        assert relay.stop() == 0
        assert not (app / ".relay" / "emulator.json").exists()
        assert not (app / ".relay" / "stages" / STAGE / "session.json").exists()


def _invoke(session: dict, short: str, event: object) -> tuple[object, str | None]:
    response = lambda_client(session).invoke(
        FunctionName=function(session, short)["function_name"],
        Payload=json.dumps(event).encode(),
    )
    return json.loads(response["Payload"].read()), response.get("FunctionError")


def test_session_says_direct_and_no_client_is_connected(direct: dict) -> None:
    assert direct["direct"] is True
    assert direct["connection_id"] is None
    assert direct["mode"] == "local"


def test_function_url_and_invoke_reach_the_handler(direct: dict) -> None:
    url = function(direct, "Web")["function_url"]
    with urllib.request.urlopen(url.rstrip("/") + "/items/7?colour=blue", timeout=60) as r:
        assert r.status == 200
        assert r.headers["x-relay-test"] == "yes"
        body = json.loads(r.read())
    assert body == {
        "path": "/items/7",
        "query": "colour=blue",
        "method": "GET",
        "length": 0,
        "greeting": "hello from e2e",
        "version": 1,
    }
    assert _invoke(direct, "Echo", {"a": [1, 2]}) == ({"echo": {"a": [1, 2]}, "version": 1}, None)


def test_handler_gets_the_function_environment_and_role_credentials(direct: dict) -> None:
    result, error = _invoke(direct, "Echo", {"action": "env"})
    assert error is None
    assert result == {
        "greeting": "hello from e2e",
        "is_local": "true",
        "function_name": function(direct, "Echo")["function_name"],
        "memory": "256",
        "has_credentials": True,
    }


def test_function_errors_are_lambdas_and_shown_in_the_live_view(direct: dict) -> None:
    result, error = _invoke(direct, "Echo", {"action": "fail", "why": "direct"})
    assert error == "Unhandled"
    assert isinstance(result, dict)
    assert result["errorType"] == "ValueError"
    assert result["errorMessage"] == "asked to fail: direct"
    assert any("echo.py" in line for line in result["stackTrace"])
    relay: RelayProcess = direct["_process"]
    relay.wait_for(
        lambda: "probe-e2e/Echo error" in relay.output and "ValueError" in relay.output,
        "the live view's error line",
        timeout=30,
    )
    assert "probe-e2e/Echo │ START RequestId: " in relay.output
    assert "probe-e2e/Echo ok " in relay.output


def test_a_save_is_served_by_the_next_invocation(direct: dict) -> None:
    source = direct["_app"] / "functions" / "probe" / "echo.py"
    original = source.read_text()
    try:
        for version in (2, 3, 4):  # same size, same second: the dispatch-time check sees it
            source.write_text(original.replace('"version": 1', f'"version": {version}'))
            result, error = _invoke(direct, "Echo", {"n": version})
            assert (result, error) == ({"echo": {"n": version}, "version": version}, None)
    finally:
        source.write_text(original)
    result, _ = _invoke(direct, "Echo", {})
    assert result == {"echo": {}, "version": 1}


def test_timeout_is_lambdas(direct: dict) -> None:
    result, error = _invoke(direct, "Sleepy", {"seconds": 6})  # its timeout is 2 s
    assert error == "Unhandled"
    assert isinstance(result, dict)
    assert result["errorMessage"].endswith("Task timed out after 2.00 seconds")
