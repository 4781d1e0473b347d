"""enable(): loopback only, and a clear error when the debug port is taken."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys

import pytest

from relay.debug.attach import DebugStartError, current, enable
from relay.debug.options import DebugOptions
from relay.debug.worker import parse


def test_refuses_to_listen_beyond_loopback():
    with pytest.raises(DebugStartError, match=r"refusing .* on 0\.0\.0\.0.*loopback"):
        enable(DebugOptions(host="0.0.0.0"))
    assert current() is None  # nothing started


def test_taken_port_says_what_to_do():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code = (
            "from relay.debug.attach import enable, DebugStartError\n"
            "from relay.debug.options import DebugOptions\n"
            "try:\n"
            f"    enable(DebugOptions(port={port}))\n"
            "except DebugStartError as exc:\n"
            "    print(exc)\n"
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its group holds debugpy's (daemonized) adapter
        )
        try:
            out, _ = proc.communicate(timeout=60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    assert f"cannot listen for a debugger on 127.0.0.1:{port}" in out
    assert "Address already in use" in out
    assert "Pass --debug-port with a free port" in out


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:4100", (("127.0.0.1", 4100), False)),
        ("127.0.0.1:4100;wait", (("127.0.0.1", 4100), True)),
        ("1", (None, False)),
    ],
)
def test_worker_reads_relay_debug(value, expected):
    assert parse(value) == expected
