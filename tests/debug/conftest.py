"""Fixtures for the debug tests: a relay main process under debugpy (host.py), torn down fully."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.debug.dap_client import TIMEOUT, DapClient
from tests.debug.processes import descendants

HOST = Path(__file__).with_name("host.py")
ROOT = Path(__file__).resolve().parents[2]


class DebugHost:
    """Drives tests/debug/host.py: configure functions, invoke them, read results."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("RELAY_DEBUG", None)
        self.proc = subprocess.Popen(
            [sys.executable, str(HOST), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
            start_new_session=True,  # its group holds debugpy's adapter, which daemonizes
        )
        self._ids = iter(range(1, 1_000_000))
        self._results: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.stderr: list[str] = []
        self.logs: queue.Queue[dict[str, Any]] = queue.Queue()
        first = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not first:
            self.close()
            raise RuntimeError("debug host exited at start:\n" + "".join(self.stderr))
        self.debug_port: int | None = json.loads(first)["debug_port"]
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _queue(self, ident: int) -> queue.Queue[dict[str, Any]]:
        with self._lock:
            return self._results.setdefault(ident, queue.Queue())

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            message = json.loads(line)
            if message["id"] is None:
                self.logs.put(message)
            else:
                self._queue(message["id"]).put(message)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def _send(self, command: dict[str, Any]) -> int:
        ident = next(self._ids)
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"id": ident, **command}) + "\n")
        self.proc.stdin.flush()
        return ident

    def result(self, ident: int, timeout: float = TIMEOUT) -> dict[str, Any]:
        try:
            message = self._queue(ident).get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                f"no answer to command {ident}; host stderr:\n" + "".join(self.stderr)
            ) from None
        assert "exception" not in message, message
        return message

    def wait_for_log(self, text: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next log line (of any invocation) that contains `text`."""
        while True:
            try:
                message = self.logs.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no log line with {text!r}") from None
            if text in message["log"]:
                return message

    def configure(self, name: str, code_dir: Path, handler: str = "app.handler") -> None:
        self.result(self._send({"configure": name, "handler": handler, "code_dir": str(code_dir)}))

    def wait_reload(self, name: str, after: int = 0) -> int:
        """Wait until the runtime has reloaded `name` after a save (more than `after` times)."""
        return self.result(self._send({"wait_reload": name, "after": after}))["reloads"]

    def invoke(self, name: str, event: Any) -> int:
        """Start an invocation; returns the id to pass to result()."""
        return self._send({"invoke": name, "event": event})

    def close(self) -> None:
        leftovers = descendants(self.proc.pid)
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # debugpy's adapter, if still there
        for pid in leftovers:  # any worker the host could not close (own sessions)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def debug_host() -> Iterator[type[DebugHost]]:
    """Factory: debug_host("--wait-for-debugger") starts a host; all are closed at the end."""
    hosts: list[DebugHost] = []

    def start(*args: str) -> DebugHost:
        host = DebugHost(*args)
        hosts.append(host)
        return host

    yield start  # type: ignore[misc]
    for host in hosts:
        host.close()


@pytest.fixture
def dap_clients() -> Iterator[list[DapClient]]:
    """Clients appended here are disconnected at the end, even when the test failed."""
    clients: list[DapClient] = []
    yield clients
    for client in clients:
        client.close()
