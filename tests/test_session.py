"""session.json: the contract other tools read; never holds secrets."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from relay import session as sessions


def _session() -> sessions.Session:
    return sessions.Session(
        stage="alice",
        mode="local",
        websocket_url="ws://127.0.0.1:4510/alice",
        connections_endpoint="http://127.0.0.1:4510/alice",
        region="us-east-1",
        connection_id="abc=",
        lambda_endpoint="http://127.0.0.1:4511",
        functions=[
            sessions.SessionFunction(
                path="Demo-alice/Hello",
                function_name="Demo-alice-Hello",
                function_url="http://127.0.0.1:4512/",
                handler="app.handler",
                code_dir="/src/hello",
            )
        ],
    )


def test_round_trip_and_exact_keys(tmp_path: Path) -> None:
    path = sessions.save(tmp_path, _session())
    assert path == tmp_path / ".relay" / "stages" / "alice" / "session.json"
    data = json.loads(path.read_text())
    assert set(data) == {
        "stage",
        "mode",
        "websocket_url",
        "connections_endpoint",
        "connection_id",
        "lambda_endpoint",
        "region",
        "functions",
        "direct",
        "endpoint_url",
        "apis",
        "stacks",
    }
    assert data["functions"][0] == {
        "path": "Demo-alice/Hello",
        "function_name": "Demo-alice-Hello",
        "function_url": "http://127.0.0.1:4512/",
        "handler": "app.handler",
        "code_dir": "/src/hello",
    }
    assert sessions.load(tmp_path, "alice") == _session()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_runtime_data_is_private_even_under_a_lax_umask(tmp_path: Path) -> None:
    tmp_path = tmp_path / "project"
    tmp_path.mkdir(mode=0o755)
    old = os.umask(0o000)
    try:
        (tmp_path / ".relay").mkdir(mode=0o755)  # as an older relay left it
        (tmp_path / ".relay").chmod(0o755)
        log = sessions.stage_dir(tmp_path, "alice") / "emulator.log"
        log.parent.mkdir(parents=True)
        log.write_text("old")
        log.chmod(0o644)
        with os.fdopen(sessions.open_private(log), "w") as handle:
            handle.write("new")
        sessions.write_json_atomic(sessions.session_path(tmp_path, "alice"), {"stage": "alice"})
    finally:
        os.umask(old)
    assert log.read_text() == "new"
    assert _mode(log) == 0o600
    assert _mode(sessions.session_path(tmp_path, "alice")) == 0o600
    for folder in (".relay", ".relay/stages", ".relay/stages/alice"):
        assert _mode(tmp_path / folder) == 0o700, folder
    assert _mode(tmp_path) == 0o755  # the project folder itself is left alone


def test_find_by_name_path_or_short_name() -> None:
    s = _session()
    assert s.find("Demo-alice-Hello") is s.functions[0]
    assert s.find("Demo-alice/Hello") is s.functions[0]
    assert s.find("Hello") is s.functions[0]
    assert s.find("Nope") is None


def test_missing_session_says_how_to_start(tmp_path: Path) -> None:
    with pytest.raises(sessions.SessionError, match="relay start --stage bob"):
        sessions.load(tmp_path, "bob")


def test_corrupt_session_says_how_to_recover(tmp_path: Path) -> None:
    path = sessions.session_path(tmp_path, "alice")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(sessions.SessionError, match="not valid JSON"):
        sessions.load(tmp_path, "alice")


def test_invoke_without_live_stage_exits_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "relay",
            "invoke",
            "Hello",
            "--stage",
            "bob",
            "--app",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr == (
        f"relay: error: stage 'bob' is not live here: nothing serves it (no "
        f"{sessions.session_path(tmp_path.resolve(), 'bob')}). Start it with: "
        "relay start --stage bob\n"
    )


def test_invoke_names_relay_start_local_when_the_stage_last_ran_locally(tmp_path: Path) -> None:
    """A local stage removes its session file when it stops; its mode stays behind."""
    sessions.save(tmp_path, replace(_session(), mode="local"))
    sessions.session_path(tmp_path, "alice").unlink()
    proc = subprocess.run(
        [sys.executable, "-m", "relay", "invoke", "Hello", "--stage", "alice",
         "--app", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.endswith("Start it with: relay start --local --stage alice\n")
    assert sessions.start_command_for(tmp_path, "alice") == "relay start --local --stage alice"
    sessions.save(tmp_path, replace(_session(), mode="aws"))  # the next start was in AWS
    assert sessions.start_command_for(tmp_path, "alice") == "relay start --stage alice"


def test_invoke_rejects_an_event_that_is_not_json(tmp_path: Path) -> None:
    sessions.save(tmp_path, _session())
    bad = tmp_path / "event.json"
    bad.write_text("{oops")
    proc = subprocess.run(
        [sys.executable, "-m", "relay", "invoke", "Hello", "--stage", "alice",
         "--app", str(tmp_path), "--event", str(bad)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert f"the event from {bad} is not JSON" in proc.stderr


def test_invoke_names_the_live_functions_when_one_is_unknown(tmp_path: Path) -> None:
    sessions.save(tmp_path, _session())
    proc = subprocess.run(
        [sys.executable, "-m", "relay", "invoke", "Nope", "--stage", "alice",
         "--app", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "no function 'Nope' in stage 'alice'. Live functions: Demo-alice/Hello." in proc.stderr


def test_invoke_says_what_to_run_when_the_emulator_is_gone(tmp_path: Path) -> None:
    sessions.save(tmp_path, _session())  # points at 127.0.0.1:4511, where nothing listens
    proc = subprocess.run(
        [sys.executable, "-m", "relay", "invoke", "Hello", "--stage", "alice",
         "--app", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.startswith("relay: error: invoking Demo-alice-Hello through ")
    assert proc.stderr.endswith("Is `relay start --local --stage alice` running?\n")
