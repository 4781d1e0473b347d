"""F5 on the embedded default: `relay start --local --debug`, a request to the function URL,
and a DAP client stopped in the handler with the function-URL event in its locals."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.debug.dap_client import TIMEOUT, DapClient
from tests.debug.processes import descendants
from tests.e2e.relay_process import RelayProcess, connected, function, read_session

APP = Path(__file__).resolve().parents[1] / "e2e" / "app"
STAGE = "dbg"


def _request(url: str, body: bytes, out: dict[str, Any]) -> None:
    request = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        out["status"] = response.status
        out["body"] = json.loads(response.read())


def test_breakpoint_through_the_function_url_of_relay_start_local(tmp_path):
    app = tmp_path / "app"
    shutil.copytree(APP, app, ignore=shutil.ignore_patterns("__pycache__", "cdk.out", ".relay"))
    relay = RelayProcess(
        app, "start", "--local", "--stage", STAGE, "--debug", "--debug-port", "0"
    ).start()
    client: DapClient | None = None
    try:
        relay.wait_for(connected(app, STAGE), "the client to connect", timeout=240)
        found = re.search(r"debugger listening on 127\.0\.0\.1:(\d+)", relay.output)
        assert found, relay.output
        web = function(read_session(app, STAGE), "Web")
        source = (Path(web["code_dir"]) / "web.py").resolve()
        line = next(
            n for n, text in enumerate(source.read_text().splitlines(), 1) if "return {" in text
        )
        client = DapClient("127.0.0.1", int(found.group(1)), {source: [line]}, timeout=TIMEOUT)
        client.attach()

        out: dict[str, Any] = {}
        caller = threading.Thread(
            target=_request,
            args=(web["function_url"].rstrip("/") + "/debug/me?x=1", b"paused", out),
        )
        caller.start()
        stop = client.wait_for_stop()
        frame = client.top_frame(stop)
        assert (frame["source"]["path"], frame["line"]) == (str(source), line)
        assert client.evaluate(stop, frame["id"], "event['rawPath']") == "'/debug/me'"
        assert client.evaluate(stop, frame["id"], "event['rawQueryString']") == "'x=1'"
        method = client.evaluate(stop, frame["id"], "event['requestContext']['http']['method']")
        assert method == "'POST'"
        assert client.local_variables(stop, frame["id"])["body"]["value"] == "'paused'"
        # The function's own environment is there too, as in Lambda.
        greeting = client.evaluate(stop, frame["id"], "__import__('os').environ['GREETING']")
        assert greeting == f"'hello from {STAGE}'"
        client.resume(stop)
        caller.join(TIMEOUT)
        assert out["status"] == 201
        assert out["body"]["path"] == "/debug/me" and out["body"]["length"] == len(b"paused")
    finally:
        leftovers = descendants(relay.proc.pid) if relay.proc else []
        if client is not None:
            client.close()  # detach first, as a user would before Ctrl-C
        started = time.monotonic()
        code = relay.stop()
        stopping = time.monotonic() - started
        if relay.proc is not None:  # anything left in relay's group (debugpy's adapter)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(relay.proc.pid, signal.SIGKILL)
        for pid in leftovers:  # workers live in their own sessions
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert code in (0, 130), relay.output
    assert stopping < 20, f"relay start --debug took {stopping:.1f} s to stop on Ctrl-C"
