"""relay's Runtime API client against awslambdaric's native one, on the same canned answers.

Each client runs in its own process (the native module reads AWS_LAMBDA_RUNTIME_API when it is
imported) against a server that records every request and answers from a script. Both must
send the same requests and return, raise and print the same things.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from relay.runtime.config import runtime_paths

RUNTIME_DIR = Path(__file__).resolve().parents[2] / "relay" / "runtime"
FULL_NEXT = (
    b"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: rid-1\r\n"
    b"Lambda-Runtime-Deadline-Ms: 1764625000000\r\n"
    b"Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:1:function:f\r\n"
    b"Lambda-Runtime-Trace-Id: Root=1-a;Parent=b;Sampled=0\r\n"
    b'Content-Type: application/json\r\nLambda-Runtime-Client-Context: {"a":1}\r\n'
    b'Lambda-Runtime-Cognito-Identity: {"cognitoIdentityId":"c"}\r\n'
    b"Lambda-Runtime-Aws-Tenant-Id: t1\r\nLambda-Runtime-Invocation-Id: inv1\r\n"
    b'Content-Length: 9\r\n\r\n{"x": 1}\n'
)
#: lower-case names, nothing optional: what relay's own Runtime API sends
PLAIN_NEXT = (
    b"HTTP/1.1 200 OK\r\nlambda-runtime-aws-request-id: rid-2\r\n"
    b"lambda-runtime-deadline-ms: 5\r\nlambda-runtime-invoked-function-arn: arn:y\r\n"
    b"lambda-runtime-trace-id: Root=1-b\r\ncontent-type: application/json\r\n"
    b"Content-Length: 2\r\n\r\n{}"
)
ACCEPTED = (
    b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"
    b'{"status":"OK"}'
)
#: the server drops the connection instead of answering
HANG_UP = b""
TOO_LARGE = (
    b"HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 37\r\n\r\n"
    b'{"errorType":"RequestEntityTooLarge"}'
)
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}"
SCRIPT = [
    ("next", FULL_NEXT),
    ("result", ["rid-1", 'b:{"ok": 1}', "application/json", None], ACCEPTED),
    ("next", PLAIN_NEXT),
    ("error", ["rid-2", '{"errorMessage": "m"}', '{"working_directory": "/"}', "inv2"], ACCEPTED),
    ("result", ["rid-3", "b:x", "application/unknown", "inv9"], ACCEPTED),
    ("error", ["rid-4", "{}", "", None], ACCEPTED),
    ("result", ["rid-5", "b:é", "", None], ACCEPTED),
    ("result", ["rid-6", "b:y", "application/json", None], TOO_LARGE),
]
FAILING_NEXT = [("next", NOT_FOUND)]

CLIENT = r"""
import json, sys
which, address, calls = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
if which == "native":
    import runtime_client as rc
    rc.initialize_client("test-agent/1")
else:
    sys.path.insert(0, sys.argv[4])
    from runtime_api_client import RuntimeApiClient
    rc = RuntimeApiClient(address, "test-agent/1")
for call in calls:
    args = [a.encode()[2:] if isinstance(a, str) and a.startswith("b:") else a for a in call[1:]]
    try:
        if call[0] == "next":
            out = rc.next()
        elif call[0] == "result":
            out = rc.post_invocation_result(*args)
        else:
            out = rc.post_error(*args)
        print("RESULT", repr(out), flush=True)
    except Exception as exc:
        print("RAISED", type(exc).__name__, exc, flush=True)
"""


class Scripted:
    """A Runtime API that answers each request with the next canned answer, and records it."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.lock = threading.Lock()
        #: set: answer; clear: hold each answer back until it is set again
        self.go = threading.Event()
        self.go.set()
        self.asked = threading.Event()  # a request came in
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", 0))
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                body, buffer = buffer[:length], buffer[length:]
                assert headers.pop("host") == self.address
                with self.lock:
                    self.requests.append((lines[0], headers, body))
                    answer = self.answers.pop(0)
                self.asked.set()
                self.go.wait(30)
                if answer == HANG_UP:
                    return
                conn.sendall(answer)

    def close(self) -> None:
        self.sock.close()


def run_client(
    which: str, calls: list[tuple[object, ...]], more: tuple[bytes, ...] = ()
) -> tuple[list[str], Scripted]:
    """Run ``calls`` in a new process; ``more``: answers after the calls' own."""
    server = Scripted([*(call[-1] for call in calls), *more])  # type: ignore[misc]
    plain = [[c[0], *c[1]] if len(c) == 3 else [c[0]] for c in calls]  # type: ignore[misc]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join(runtime_paths()),
        "AWS_LAMBDA_RUNTIME_API": server.address,
    }
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-S",
                "-c",
                CLIENT,
                which,
                server.address,
                json.dumps(plain),
                str(RUNTIME_DIR),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        server.close()
    assert done.returncode == 0, done.stderr
    # the error lines carry the time in milliseconds
    out = [re.sub(r"^\[ERROR\] \[\d+\]", "[ERROR] [ms]", line) for line in done.stdout.splitlines()]
    return out, server


@pytest.fixture(scope="module")
def both() -> Iterator[dict[str, tuple[list[str], Scripted]]]:
    yield {which: run_client(which, SCRIPT) for which in ("native", "python")}


def test_same_requests_as_the_native_client(both: dict[str, tuple[list[str], Scripted]]) -> None:
    native, python = both["native"][1].requests, both["python"][1].requests
    assert len(python) == len(SCRIPT)
    assert python == native
    # and what they are, spelled out for the first post of an error
    line, headers, body = python[3]
    assert line == "POST /2018-06-01/runtime/invocation/rid-2/error HTTP/1.1"
    assert headers["lambda-runtime-function-xray-error-cause"] == '{"working_directory": "/"}'
    assert headers["lambda-runtime-invocation-id"] == "inv2"
    assert headers["user-agent"] == "test-agent/1"
    assert "lambda-runtime-function-error-type" not in headers
    assert body == b'{"errorMessage": "m"}'
    assert "lambda-runtime-function-xray-error-cause" not in python[5][1]  # empty: none sent
    assert python[6][1]["content-type"] == "text/html"  # no content type given


def test_same_results_failures_and_output(both: dict[str, tuple[list[str], Scripted]]) -> None:
    native, python = both["native"][0], both["python"][0]
    assert python == native
    assert python[0] == "RESULT " + repr(
        (
            b'{"x": 1}\n',
            {
                "Lambda-Runtime-Aws-Request-Id": "rid-1",
                "Lambda-Runtime-Trace-Id": "Root=1-a;Parent=b;Sampled=0",
                "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:1:function:f",
                "Lambda-Runtime-Deadline-Ms": 1764625000000,
                "Lambda-Runtime-Client-Context": '{"a":1}',
                "Content-Type": "application/json",
                "Lambda-Runtime-Cognito-Identity": '{"cognitoIdentityId":"c"}',
                "Lambda-Runtime-Aws-Tenant-Id": "t1",
                "Lambda-Runtime-Invocation-Id": "inv1",
            },
        )
    )
    assert "'Lambda-Runtime-Client-Context': None" in python[2]
    assert python[-2:] == [
        "[ERROR] [ms] LAMBDA_RUNTIME Failed to post handler success response. "
        'Http response code: 413. {"errorType":"RequestEntityTooLarge"}',
        "RAISED RuntimeError Failed to post invocation response",
    ]


def test_next_refused() -> None:
    """The native client dies of a segmentation fault here (4.2.2); its log line and error
    are those it has for the case (aws-lambda-cpp's get_next, awslambdaric's method_next)."""
    out, _ = run_client("python", FAILING_NEXT)  # type: ignore[arg-type]
    assert out == [
        "[ERROR] [ms] LAMBDA_RUNTIME Failed to get next invocation. Http Response code: 404",
        "RAISED RuntimeError Failed to get next",
    ]


def test_a_dropped_kept_alive_connection_is_made_anew_once() -> None:
    calls = [("next", FULL_NEXT), ("result", ["rid-1", "b:1", "application/json", None], HANG_UP)]
    out, server = run_client("python", calls, (ACCEPTED,))  # type: ignore[arg-type]
    assert out[1:] == ["RESULT None"]
    assert [line for line, _, _ in server.requests] == [
        "GET /2018-06-01/runtime/invocation/next HTTP/1.1",
        "POST /2018-06-01/runtime/invocation/rid-1/response HTTP/1.1",
        "POST /2018-06-01/runtime/invocation/rid-1/response HTTP/1.1",
    ]


WAITER = r"""
import signal, sys
sys.path.insert(0, sys.argv[2])
from runtime_api_client import RuntimeApiClient
signal.signal(signal.SIGUSR1, lambda *_: print("signal", flush=True))
client = RuntimeApiClient(sys.argv[1], "test-agent/1")
client.defer_signals = sys.argv[3] == "defer"
client.next()
print("next returned", flush=True)
"""


def _pending(pid: int, signum: int) -> bool:
    """Whether ``signum`` waits, held, for the process (its thread's or the shared set)."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    masks = [int(line.split()[1], 16) for line in status if line.startswith(("SigPnd", "ShdPnd"))]
    return any(mask & (1 << (signum - 1)) for mask in masks)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
@pytest.mark.parametrize("mode", ["defer", "at once"])
def test_signal_handlers_while_waiting_for_an_event(mode: str) -> None:
    """defer: as the native module (a handler runs once the event is in); at once: as Lambda's
    runtimes that poll from a thread (python3.12+), while the runtime waits."""
    server = Scripted([PLAIN_NEXT])
    server.go.clear()
    proc = subprocess.Popen(
        [sys.executable, "-S", "-c", WAITER, server.address, str(RUNTIME_DIR), mode],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.asked.wait(30)  # the client is in next(), waiting
        proc.send_signal(signal.SIGUSR1)
        assert proc.stdout is not None
        if mode == "defer":
            deadline = time.monotonic() + 30
            while not _pending(proc.pid, signal.SIGUSR1):  # held, not run
                assert time.monotonic() < deadline, "SIGUSR1 never showed as pending"
                time.sleep(0.005)
        else:
            assert proc.stdout.readline() == "signal\n"  # ran before any answer
        server.go.set()
        rest = proc.stdout.read()
        assert proc.wait(30) == 0
    finally:
        proc.kill()
        server.close()
    assert rest == ("signal\nnext returned\n" if mode == "defer" else "next returned\n")
