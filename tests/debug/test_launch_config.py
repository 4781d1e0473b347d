"""The "Debug relay start" launch configuration, run the way VS Code runs it on F5.

A debugpy adapter is started as VS Code starts one, and the DAP client sends it a `launch`
request built from relay's own launch.json entry (with VS Code's `${input:...}` filled in):
relay runs under the debugger, its workers are followed as sub-processes, and a breakpoint in
a handler is hit through the function URL with no `--debug` and no attach step.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from relay.debug.vscode import launch_document
from tests.debug.dap_client import TIMEOUT, DapClient
from tests.debug.processes import descendants
from tests.e2e.relay_process import connected, function, read_session

APP = Path(__file__).resolve().parents[1] / "e2e" / "app"
STAGE = "launch"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(predicate: Any, what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _launch_configuration(app: Path) -> dict[str, Any]:
    document = launch_document()
    config = next(c for c in document["configurations"] if c["name"] == "Debug relay start")
    text = json.dumps(config)
    text = text.replace("${input:relayStage}", STAGE).replace("${workspaceFolder}", str(app))
    config = json.loads(text)
    assert config["args"] == ["start", f"--stage={STAGE}"]
    config["args"] += ["--local"]
    config["console"] = "internalConsole"  # no terminal here; VS Code uses its own
    env = {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "1"}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    config["env"] = env
    config["python"] = [sys.executable]
    return config


def test_debug_relay_start_configuration_stops_in_a_handler(tmp_path):
    app = tmp_path / "app"
    shutil.copytree(APP, app, ignore=shutil.ignore_patterns("__pycache__", "cdk.out", ".relay"))
    port = _free_port()
    adapter = subprocess.Popen(
        [sys.executable, "-m", "debugpy.adapter", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    client = DapClient("127.0.0.1", port, {}, timeout=TIMEOUT)
    relay_pid: int | None = None
    leftovers: list[int] = []
    try:
        _wait(lambda: _listening(port), "the adapter to listen", timeout=30)
        root = client.launch(_launch_configuration(app))
        relay_pid = root.wait_for_event("process")["body"]["systemProcessId"]
        _wait(connected(app, STAGE), "relay to connect")
        web = function(read_session(app, STAGE), "Web")
        source = (Path(web["code_dir"]) / "web.py").resolve()
        line = next(n for n, t in enumerate(source.read_text().splitlines(), 1) if "return {" in t)
        client.set_breakpoints(source, [line])

        out: dict[str, Any] = {}

        def call() -> None:
            try:
                with urllib.request.urlopen(web["function_url"] + "?via=f5", timeout=TIMEOUT) as r:
                    out["body"] = json.loads(r.read())
            except urllib.error.HTTPError as exc:
                out["error"] = f"{exc.code}: {exc.read()[:500]!r}"

        caller = threading.Thread(target=call)
        caller.start()
        try:
            stop = client.wait_for_stop()
        except Exception as exc:
            raise AssertionError(f"no stop ({exc}); relay said:\n{_output(root)}") from exc
        frame = client.top_frame(stop)
        assert (frame["source"]["path"], frame["line"]) == (str(source), line)
        assert client.evaluate(stop, frame["id"], "event['rawQueryString']") == "'via=f5'"
        client.resume(stop)
        caller.join(TIMEOUT)
        assert "error" not in out, out
        assert out["body"]["query"] == "via=f5"
    finally:
        if relay_pid is not None:
            leftovers = descendants(relay_pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(relay_pid, signal.SIGINT)  # Ctrl-C, so relay closes its workers
            # Everything runs traced here (relay, the emulator, workers): slow when loaded.
            _wait(lambda: not _alive(relay_pid), "relay to stop", timeout=90)
        client.close()
        adapter.terminate()
        adapter.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(adapter.pid, signal.SIGKILL)
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _output(session: Any) -> str:
    return "".join(
        e["body"].get("output", "")
        for e in session.events
        if e.get("event") == "output" and e["body"].get("category") in ("stdout", "stderr")
    )


def _listening(port: int) -> bool:
    """Without connecting (a connection would be a client session of the adapter)."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return any(row.split()[1].endswith(f":{port:04X}") and row.split()[3] == "0A" for row in rows)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"
