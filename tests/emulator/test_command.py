"""`.relay/emulator.json` written by `relay emulator` and read back by `attach`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from relay.emulator import Emulator
from relay.emulator.command import attach, state_path, write_state
from relay.emulator.provision import Provisioned
from relay.live_stage import LiveFunction

from .conftest import config


def _provisioned(emu: Emulator) -> Provisioned:
    """What provisioning returns, built from real emulator resources."""
    api = emu.create_websocket_api("relay-dev", routes={}, stage="dev")
    info = emu.create_function(config("hello-fn", "echo"), url=True)
    # The client's copy of the config carries the function's variables in memory.
    client_config = dataclasses.replace(
        config("hello-fn", "echo", timeout=7.0), environment={"API_TOKEN": "do-not-write-me"}
    )
    return Provisioned(
        stage="dev",
        websocket_url=api.websocket_url,
        connections_endpoint=api.connections_endpoint,
        bucket="overflow-bucket",
        table="connections-table",
        region=emu.region,
        functions=[
            LiveFunction(
                path="Demo/Hello",
                function_name=info.name,
                function_url=info.function_url,
                handler="handlers.echo",
                code_dir=str(client_config.code_dir),
                config=client_config,
            )
        ],
    )


def test_state_round_trips_through_attach_without_secrets(tmp_path: Path) -> None:
    with Emulator(moto=False) as emu:
        provisioned = _provisioned(emu)
        path = write_state(tmp_path, "dev", emu, provisioned)
        assert path == state_path(tmp_path) == tmp_path / ".relay" / "emulator.json"
        assert path.stat().st_mode & 0o777 == 0o600
        text = path.read_text()
        assert "do-not-write-me" not in text
        assert emu.credentials.secret_key not in text
        assert json.loads(text)["access_key"] == "relay-local"

        handle = attach(tmp_path, "dev")
        assert handle is not None
        assert handle.lambda_endpoint == emu.lambda_endpoint
        assert handle.websocket_url == provisioned.websocket_url
        assert handle.connections_endpoint == provisioned.connections_endpoint
        assert (handle.bucket, handle.table, handle.region) == (
            "overflow-bucket",
            "connections-table",
            "us-east-1",
        )
        [function] = handle.functions
        assert function.path == "Demo/Hello"
        assert function.function_url == provisioned.functions[0].function_url
        assert function.config.handler == "handlers.echo"
        assert function.config.timeout == 7.0
        assert dict(function.config.environment) == {}
        assert attach(tmp_path, "other-stage") is None
    # The emulator is gone: its file no longer attaches anyone.
    assert attach(tmp_path, "dev") is None


def test_attach_without_or_with_a_broken_file(tmp_path: Path) -> None:
    assert attach(tmp_path) is None
    state_path(tmp_path).parent.mkdir(parents=True)
    state_path(tmp_path).write_text("{not json")
    assert attach(tmp_path) is None


def test_relay_emulator_is_quiet_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    """No access-log line per request unless --verbose; Ctrl-C (SIGINT to the whole process
    group, as a terminal sends it) stops it with one line, no traceback."""
    import shutil

    from tests.e2e.conftest import APP
    from tests.e2e.relay_process import RelayProcess, function, lambda_client

    app = tmp_path / "app"
    shutil.copytree(APP, app, ignore=shutil.ignore_patterns("__pycache__", "cdk.out"))
    emulator = RelayProcess(app, "emulator", "--stage", "quiet", name="emulator").start()
    try:
        emulator.wait_for(state_path(app).exists, "the emulator's state file", timeout=240)
        state = json.loads(state_path(app).read_text())
        reply = lambda_client(state).invoke(
            FunctionName=function(state, "Echo")["function_name"], Payload=b"{}"
        )  # no relay start: the stub answers with an error, through moto and the gateway
        assert reply["FunctionError"] == "Unhandled"
    finally:
        code = emulator.stop()
    output = emulator.output
    assert code == 0, output
    assert "relay emulator ready for stage 'quiet'" in output
    assert output.rstrip().endswith("relay emulator stopped (stage 'quiet')"), output
    for noise in ("HTTP/1.1", "Traceback", "BrokenPipeError", "START RequestId"):
        assert noise not in output, output
    assert not state_path(app).exists()
