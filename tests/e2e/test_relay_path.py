"""The whole invocation path on the embedded default: trigger → stub → gateway → client →
local handler → back, checked at the caller as Lambda would answer."""

from __future__ import annotations

import base64
import json
import re
import stat
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.e2e.relay_process import STAGE, function, lambda_client, management_client


def _invoke(session: dict, short: str, event: object) -> tuple[dict | list | str, str | None]:
    response = lambda_client(session).invoke(
        FunctionName=function(session, short)["function_name"],
        Payload=json.dumps(event).encode(),
    )
    return json.loads(response["Payload"].read()), response.get("FunctionError")


def test_function_url_round_trip(live: dict) -> None:
    url = function(live, "Web")["function_url"]
    assert url and url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(url.rstrip("/") + "/items/7?colour=blue", timeout=60) as r:
        assert r.status == 200
        assert r.headers["x-relay-test"] == "yes"
        assert r.headers["content-type"] == "application/json"
        body = json.loads(r.read())
    assert body == {
        "path": "/items/7",
        "query": "colour=blue",
        "method": "GET",
        "length": 0,
        "greeting": "hello from e2e",
        "version": 1,
    }
    request = urllib.request.Request(url, data=b'{"n": 1}', method="POST")
    with urllib.request.urlopen(request, timeout=60) as r:
        assert r.status == 201
        assert json.loads(r.read())["length"] == len(b'{"n": 1}')


def test_invoke_round_trip_returns_the_handler_result(live: dict) -> None:
    result, error = _invoke(live, "Echo", {"a": 1, "nested": {"b": [1, 2]}})
    assert error is None
    assert result == {"echo": {"a": 1, "nested": {"b": [1, 2]}}, "version": 1}


def test_handler_runs_with_the_function_environment_and_role(live: dict) -> None:
    result, error = _invoke(live, "Echo", {"action": "env"})
    assert error is None
    assert result == {
        "greeting": "hello from e2e",
        "is_local": "true",
        "function_name": function(live, "Echo")["function_name"],
        "memory": "256",  # a string in AWS's runtime too (awslambdaric reads the env var)
        "has_credentials": True,
    }


def test_relay_invoke_cli_prints_payload_and_exit_codes(live: dict, probe_app: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "relay", "invoke", "Echo", "--event", "-", "--stage", STAGE,
         "--app", str(probe_app)],
        input=b'{"cli": true}', capture_output=True, timeout=120,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == {"echo": {"cli": True}, "version": 1}
    failed = subprocess.run(
        [sys.executable, "-m", "relay", "invoke", "Echo", "--event", "-", "--stage", STAGE,
         "--app", str(probe_app)],
        input=b'{"action": "fail", "why": "cli"}', capture_output=True, timeout=120,
    )  # fmt: skip
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["errorMessage"] == "asked to fail: cli"


def test_function_error_surfaces_exactly_as_lambda_reports_it(live: dict) -> None:
    result, error = _invoke(live, "Echo", {"action": "fail", "why": "test"})
    assert error == "Unhandled"
    assert isinstance(result, dict)
    assert set(result) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert result["errorMessage"] == "asked to fail: test"
    assert result["errorType"] == "ValueError"
    assert any("raise ValueError" in line for line in result["stackTrace"])
    assert any("echo.py" in line for line in result["stackTrace"])


def test_timeout_surfaces_as_lambda_words_it(live: dict) -> None:
    # the handler sleeps 6 s: Lambda's words for a 2 s timeout prove the timeout ended it
    result, error = _invoke(live, "Sleepy", {"seconds": 6})
    assert error == "Unhandled"
    assert isinstance(result, dict)
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z [0-9a-f-]{36} Task timed out after 2\.00 seconds",
        result["errorMessage"],
    ), result


@pytest.mark.parametrize("size", [200 * 1024, 6_000_000])
def test_large_requests_and_responses_round_trip_through_overflow(live: dict, size: int) -> None:
    pad = "y" * size
    result, error = _invoke(live, "Echo", {"pad": pad})
    assert error is None
    assert isinstance(result, dict) and result["echo"]["pad"] == pad
    result, error = _invoke(live, "Echo", {"action": "big", "size": size})
    assert error is None
    assert isinstance(result, dict) and result["data"] == "x" * size


def test_200_concurrent_invocations_none_lost(live: dict) -> None:
    def call(i: int) -> tuple[int, object, str | None]:
        result, error = _invoke(live, "Echo", {"i": i})
        return i, result, error

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(call, range(200)))
    assert [error for _, _, error in answers] == [None] * 200
    assert [result for _, result, _ in answers] == [
        {"echo": {"i": i}, "version": 1} for i in range(200)
    ]


def test_deleting_the_client_connection_mid_load_loses_nothing(live: dict, probe_app) -> None:
    from tests.e2e.relay_process import connected, read_session

    before = read_session(probe_app)["connection_id"]

    marks = probe_app / "deleting-runs.txt"

    def call(i: int) -> tuple[object, str | None]:
        event = {"action": "sleep", "seconds": 0.3, "i": i, "mark": str(marks)}
        return _invoke(live, "Echo", event)

    def started() -> int:
        return len(marks.read_text().split()) if marks.exists() else 0

    with ThreadPoolExecutor(max_workers=20) as pool:
        futures = [pool.submit(call, i) for i in range(40)]
        deadline = time.monotonic() + 60
        while started() < 4:  # some run, others are on the way
            assert time.monotonic() < deadline, "no invocation started"
            time.sleep(0.02)
        management_client(live).delete_connection(ConnectionId=before)
        answers = [f.result(timeout=120) for f in futures]
    failed = [result for result, error in answers if error]
    assert failed == []
    assert [result for result, _ in answers] == [{"slept": 0.3}] * 40
    assert sorted(map(int, marks.read_text().split())) == list(range(40))  # each ran once
    live["_process"].wait_for(
        connected(probe_app, not_id=before), "the session file to name the new connection"
    )
    assert read_session(probe_app)["connection_id"] != before


def test_unsigned_websocket_connection_is_rejected(live: dict) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with pytest.raises(InvalidStatus) as raised:
        connect(live["websocket_url"] + "?role=client&stage=e2e", open_timeout=10)
    assert raised.value.response.status_code == 403


def test_hot_reload_through_the_function_url(live: dict, probe_app: Path) -> None:
    source = probe_app / "functions" / "probe" / "web.py"
    url = function(live, "Web")["function_url"]
    original = source.read_text()
    try:
        source.write_text(original.replace('"version": 1', '"version": 2'))
        with urllib.request.urlopen(url, timeout=60) as r:
            assert json.loads(r.read())["version"] == 2
    finally:
        source.write_text(original)
    with urllib.request.urlopen(url, timeout=60) as r:
        assert json.loads(r.read())["version"] == 1


def test_base64_body_reaches_the_handler_decoded_length(live: dict) -> None:
    url = function(live, "Web")["function_url"]
    raw = bytes(range(256))
    request = urllib.request.Request(
        url, data=raw, method="POST", headers={"content-type": "application/octet-stream"}
    )
    with urllib.request.urlopen(request, timeout=60) as r:
        body = json.loads(r.read())
    # Binary bodies arrive base64-encoded in payload format 2.0.
    assert body["length"] == len(base64.b64encode(raw))


def test_runtime_data_under_dot_relay_is_private(live: dict, probe_app: Path) -> None:
    """The emulator log (a handler's prints), the session and the synthesized templates
    (the functions' environments) are readable by this user only."""
    stage_dir = probe_app / ".relay" / "stages" / live["stage"]
    for folder in (probe_app / ".relay", probe_app / ".relay" / "stages", stage_dir):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for name in ("emulator.log", "session.json", "functions.json"):
        assert stat.S_IMODE((stage_dir / name).stat().st_mode) == 0o600, name
