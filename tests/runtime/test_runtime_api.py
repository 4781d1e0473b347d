"""The Runtime API server on the wire: what a runtime client other than awslambdaric would see."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from rt_helpers import fn, until

from relay.runtime import LocalRuntime, api
from relay.runtime.worker import Worker
from tests import loops

pytestmark = pytest.mark.anyio
anyio_backend = loops.fixture()  # asyncio's and uvloop's (relay start's)

Served = tuple["Recorder", asyncio.StreamReader, asyncio.StreamWriter]


class Recorder:
    """A RuntimeApiHandler that records calls and answers like a worker with one invocation."""

    def __init__(self) -> None:
        self.nexts: list[api.RuntimeApiConnection] = []
        self.calls: list[tuple[str, str, bytes, str | None]] = []

    def on_next(self, conn: api.RuntimeApiConnection) -> None:
        self.nexts.append(conn)

    def on_response(self, request_id: str, body: bytes) -> tuple[int, bytes]:
        self.calls.append(("response", request_id, body, None))
        return 202, b'{"status":"OK"}'

    def on_response_too_large(self, request_id: str, size: int) -> tuple[int, bytes]:
        self.calls.append(("too large", request_id, str(size).encode(), None))
        return 413, b"{}"

    def on_error(self, request_id: str, body: bytes, error_type: str | None) -> tuple[int, bytes]:
        self.calls.append(("error", request_id, body, error_type))
        return 202, b'{"status":"OK"}'

    def on_init_error(self, body: bytes, error_type: str | None) -> tuple[int, bytes]:
        self.calls.append(("init", "", body, error_type))
        return 202, b'{"status":"OK"}'

    def on_connection_lost(self, conn: api.RuntimeApiConnection) -> None:
        pass


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    recorder = Recorder()
    server, port = await api.serve(recorder)
    assert server.sockets[0].getsockname()[0] == "127.0.0.1"
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    yield recorder, reader, writer
    writer.close()
    server.close()
    await server.wait_closed()


async def _read_response(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).decode("latin-1")
    status, *lines = head.strip().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    body = await reader.readexactly(int(headers.get("Content-Length", "0")))
    return status, headers, body


async def test_next_waits_for_work_then_carries_the_documented_headers(served: Served) -> None:
    recorder, reader, writer = served
    writer.write(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
    await until(lambda: recorder.nexts, "the /next request reaching the handler")
    headers = {
        "Lambda-Runtime-Aws-Request-Id": "rid",
        "Lambda-Runtime-Deadline-Ms": "1700000000000",
        "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:1:function:f",
        "Lambda-Runtime-Trace-Id": "Root=1-a-b;Parent=c;Sampled=0",
        "Lambda-Runtime-Client-Context": "{}",
        "Lambda-Runtime-Cognito-Identity": "{}",
    }
    assert recorder.nexts[0].send_event(b'{"k": 1}', headers)
    status, got, body = await _read_response(reader)
    assert status == "HTTP/1.1 200 OK"
    assert got == headers | {"Content-Type": "application/json", "Content-Length": "8"}
    assert body == b'{"k": 1}'
    # a second event for the same /next is refused: one invocation per request
    assert not recorder.nexts[0].send_event(b"{}", headers)


async def test_post_with_expect_continue_split_across_segments(served: Served) -> None:
    recorder, reader, writer = served
    body = json.dumps({"x": "y" * 2000}).encode()
    writer.write(
        b"POST /2018-06-01/runtime/invocation/r-1/response HTTP/1.1\r\n"
        b"Expect: 100-continue\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10) == (
        b"HTTP/1.1 100 Continue\r\n\r\n"
    )
    writer.write(body[:100])
    await writer.drain()
    await asyncio.sleep(0.01)
    writer.write(body[100:])
    status, _, reply = await _read_response(reader)
    assert (status, reply) == ("HTTP/1.1 202 Accepted", b'{"status":"OK"}')
    assert recorder.calls == [("response", "r-1", body, None)]


async def test_error_and_init_error_carry_the_error_type_header(served: Served) -> None:
    recorder, reader, writer = served
    for path in (b"invocation/r-2/error", b"init/error"):
        writer.write(
            b"POST /2018-06-01/runtime/" + path + b" HTTP/1.1\r\n"
            b"Lambda-Runtime-Function-Error-Type: Runtime.X\r\nContent-Length: 2\r\n\r\n{}"
        )
        assert (await _read_response(reader))[0] == "HTTP/1.1 202 Accepted"
    assert recorder.calls == [
        ("error", "r-2", b"{}", "Runtime.X"),
        ("init", "", b"{}", "Runtime.X"),
    ]


@pytest.mark.parametrize(
    ("request_line", "status"),
    [
        (b"GET /2018-06-01/runtime/invocation/r/response HTTP/1.1", "HTTP/1.1 404 Not Found"),
        (b"GET /other HTTP/1.1", "HTTP/1.1 404 Not Found"),
        (b"POST /2018-06-01/runtime/invocation/r/other HTTP/1.1", "HTTP/1.1 404 Not Found"),
    ],
)
async def test_unknown_requests_get_a_json_error_and_the_connection_lives(
    served: Served, request_line: bytes, status: str
) -> None:
    _, reader, writer = served
    writer.write(request_line + b"\r\nContent-Length: 0\r\n\r\n")
    got, _, body = await _read_response(reader)
    assert got == status
    assert json.loads(body)["errorType"] == "InvalidRequest"
    writer.write(b"POST /2018-06-01/runtime/init/error HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
    assert (await _read_response(reader))[0] == "HTTP/1.1 202 Accepted"


async def test_error_bodies_are_json_whatever_the_path_holds(served: Served) -> None:
    """The message quotes the path the client sent: quotes and backslashes are escaped."""
    _, reader, writer = served
    writer.write(b'GET /a"b\\c HTTP/1.1\r\nContent-Length: 0\r\n\r\n')
    got, _, body = await _read_response(reader)
    assert got == "HTTP/1.1 404 Not Found"
    assert json.loads(body) == {
        "errorMessage": 'Unknown path /a"b\\c',
        "errorType": "InvalidRequest",
    }


async def test_malformed_request_line_is_answered_and_closed(served: Served) -> None:
    _, reader, writer = served
    writer.write(b"NONSENSE\r\n\r\n")
    status, _, body = await _read_response(reader)
    assert status == "HTTP/1.1 400 Bad Request"
    assert json.loads(body) == {
        "errorMessage": "Malformed request line 'NONSENSE'",
        "errorType": "InvalidRequest",
    }
    assert await reader.read() == b""


async def test_answers_for_an_unknown_request_id() -> None:
    worker = Worker()
    status, body = worker.on_response("not-current", b"{}")
    assert (status, json.loads(body)) == (
        400,
        {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"},
    )
    assert worker.on_error("not-current", b"{}", None)[0] == 400


@pytest.mark.parametrize(
    ("payload", "kwargs", "expected"),
    [
        (
            b"{not json",
            {},
            {
                "errorMessage": "Unable to unmarshal input: Expecting property name enclosed in "
                "double quotes or '}': line 1 column 2 (char 1)",
                "errorType": "Runtime.UnmarshalError",
                "requestId": "r-bad",
                "stackTrace": [],
            },
        ),
        (
            b"{}",
            {"client_context": "not json"},
            {
                "errorMessage": "Unable to parse Client Context JSON: "
                "Expecting value: line 1 column 1 (char 0)",
                "errorType": "Runtime.LambdaContextUnmarshalError",
                "requestId": "r-bad",
                "stackTrace": [],
            },
        ),
    ],
)
async def test_bad_events_fail_alone_and_the_environment_keeps_serving(
    runtime: LocalRuntime, payload: bytes, kwargs: dict[str, str], expected: dict[str, object]
) -> None:
    runtime.configure(fn("echo", "app.echo"))
    bad = await runtime.invoke("echo", payload, request_id="r-bad", **kwargs)
    assert bad.function_error == "Unhandled"
    assert json.loads(bad.payload) == expected
    good = await runtime.invoke("echo", b'{"ok": true}')
    assert (good.payload, good.init_duration_ms) == (b'{"ok": true}', None)  # same environment


async def test_an_oversized_body_is_refused_from_its_headers(served: Served) -> None:
    recorder, reader, writer = served
    writer.write(
        b"POST /2018-06-01/runtime/invocation/r-9/response HTTP/1.1\r\n"
        b"Expect: 100-continue\r\nContent-Length: 6291557\r\n\r\n"
    )
    status, _, _ = await _read_response(reader)
    assert status == "HTTP/1.1 413 Request Entity Too Large"
    assert recorder.calls == [("too large", "r-9", b"6291557", None)]
    assert await reader.read() == b""  # closed without reading 6 MB


async def test_bad_content_length(served: Served) -> None:
    _, reader, writer = served
    writer.write(b"POST /2018-06-01/runtime/init/error HTTP/1.1\r\nContent-Length: x\r\n\r\n")
    status, _, body = await _read_response(reader)
    assert (status, json.loads(body)["errorMessage"]) == (
        "HTTP/1.1 400 Bad Request",
        "Bad Content-Length 'x'",
    )


async def test_every_result_gets_the_same_exact_answer(served: Served) -> None:
    """The answers without headers are encoded once and reused: byte for byte the same."""
    _, reader, writer = served
    answers = []
    for n in range(3):
        writer.write(
            b"POST /2018-06-01/runtime/invocation/r-%d/response HTTP/1.1\r\n"
            b"Content-Length: 2\r\n\r\n{}" % n
        )
        async with asyncio.timeout(10):
            answers.append(await reader.readuntil(b'{"status":"OK"}'))
    assert (
        answers
        == [
            b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"
            b'{"status":"OK"}'
        ]
        * 3
    )
