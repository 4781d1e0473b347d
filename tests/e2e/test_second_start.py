"""A second `relay start --local` for a stage that one already serves: the newest wins.

The emulator of `relay start --local` lives in that process, so the newcomer takes the stage
over: the first says it was replaced and exits, the second serves, and on Ctrl-C it says
that nothing is left running.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

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

EXIT_REPLACED = 3


def _echo(session: dict, event: dict) -> tuple[dict, str | None]:
    response = lambda_client(session).invoke(
        FunctionName=function(session, "Echo")["function_name"],
        Payload=json.dumps(event).encode(),
    )
    return json.loads(response["Payload"].read()), response.get("FunctionError")


def _start(app: Path, name: str) -> RelayProcess:
    return RelayProcess(app, "start", "--local", "--stage", STAGE, name=name).start()


def test_a_second_relay_start_takes_the_stage_over_and_serves_it(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    app = tmp_path_factory.mktemp("e2e-second-start") / "app"
    shutil.copytree(APP, app, ignore=shutil.ignore_patterns("__pycache__", "cdk.out"))
    state = app / ".relay" / "emulator.json"
    first = _start(app, "first")
    second: RelayProcess | None = None
    try:
        first.wait_for(connected(app), "the first relay start to be ready", timeout=240)
        assert _echo(read_session(app), {"n": 1}) == ({"echo": {"n": 1}, "version": 1}, None)

        second = _start(app, "second")
        assert first.proc is not None
        assert first.proc.wait(timeout=120) == EXIT_REPLACED, first.output
        assert "replaced by another `relay start` for stage e2e; stopping" in first.output
        assert "stopped. Stage" not in first.output  # replaced is not "stopped by you"

        # The first removed its session file on its way out: this one is the second's.
        second.wait_for(connected(app), "the second relay start to be ready", timeout=240)
        assert f"taking stage '{STAGE}' over from the `relay start` running as pid " in (
            second.output
        )
        session = read_session(app)
        assert json.loads(state.read_text())["owner_pid"] == second.proc.pid  # type: ignore[union-attr]
        assert _echo(session, {"n": 2}) == ({"echo": {"n": 2}, "version": 1}, None)
        assert "Echo" in second.output.split("ready", 1)[1]  # served here, after ready

        assert second.stop() == 0
        assert (
            f"relay: stopped. Stage '{STAGE}' was on the embedded emulator, which stopped too."
            in second.output
        )
        assert not state.exists()
    finally:
        first.stop()
        if second is not None:
            second.stop()
