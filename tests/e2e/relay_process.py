"""Run relay's own CLI as a user would, and wait for the session file it promises."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
from botocore.config import Config

from relay.emulator import LOCAL_CREDENTIALS

STAGE = "e2e"


class RelayProcess:
    """`relay <args>` in the background with its output in a file (never a full pipe)."""

    def __init__(self, app: Path, *args: str, name: str = "relay") -> None:
        self.app = app
        self.args = args
        self.log_path = app / f"{name}-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RelayProcess:
        env = dict(os.environ)
        env.pop("CI", None)
        bin_dir = str(Path(sys.executable).parent)
        env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "relay", *self.args, "--app", str(self.app)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=self.app,
            start_new_session=True,
        )
        return self

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_for(self, predicate, what: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            if not self.alive():
                raise AssertionError(f"relay exited while waiting for {what}:\n{self.output}")
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}:\n{self.output}")

    def signal(self, sig: int) -> None:
        if self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 30.0) -> int | None:
        """Ctrl-C, as a person would; SIGKILL the group if it does not go."""
        if self.proc is None:
            return None
        self.signal(signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()
        return self.proc.returncode

    def kill(self) -> None:
        """A crash: SIGKILL the client's whole process group (it and its workers)."""
        if self.proc is not None:
            self.signal(signal.SIGKILL)
            self.proc.wait(10)
            self._log.close()


def session_file(app: Path, stage: str = STAGE) -> Path:
    return app / ".relay" / "stages" / stage / "session.json"


def read_session(app: Path, stage: str = STAGE) -> dict:
    return json.loads(session_file(app, stage).read_text())


def connected(app: Path, stage: str = STAGE, *, not_id: str | None = None):
    def check() -> bool:
        try:
            data = read_session(app, stage)
        except (FileNotFoundError, ValueError):
            return False
        if data.get("direct") and not_id is None:
            return True  # direct mode: the emulator calls the runtime, no client connects
        return bool(data.get("connection_id")) and data["connection_id"] != not_id

    return check


def lambda_client(session: dict):
    return boto3.client(
        "lambda",
        endpoint_url=session["lambda_endpoint"],
        region_name=session["region"],
        config=Config(read_timeout=120, retries={"max_attempts": 0}, max_pool_connections=64),
        **LOCAL_CREDENTIALS.boto3_kwargs(),
    )


def management_client(session: dict):
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=session["connections_endpoint"],
        region_name=session["region"],
        config=Config(retries={"max_attempts": 0}),
        **LOCAL_CREDENTIALS.boto3_kwargs(),
    )


def function(session: dict, short: str) -> dict:
    for fn in session["functions"]:
        if fn["path"].rsplit("/", 1)[-1] == short:
            return fn
    raise AssertionError(f"no function {short} in {session['functions']}")
