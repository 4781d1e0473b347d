"""The emulator's HTTP server on the wire: the codec's decisions as a client sees them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from relay.emulator import http
from relay.link import http1
from tests import loops

pytestmark = pytest.mark.anyio
anyio_backend = loops.fixture()  # asyncio's and uvloop's (relay start's)
DEADLINE = 10


class _Gate:
    """Holds /wait's invocation until released (fresh per test: events bind to its loop)."""

    def __init__(self) -> None:
        self.waiting = asyncio.Event()
        self.released = asyncio.Event()
        self.answered = asyncio.Event()


gate = _Gate()


@pytest.fixture(autouse=True)
def _fresh_gate() -> None:
    global gate
    gate = _Gate()


BIG = 1024 * 1024


async def _echo(request: http.Request) -> http.Response:
    if request.path == "/wait":  # an invocation that takes a while
        gate.waiting.set()
        await gate.released.wait()
        gate.answered.set()
    if request.path.startswith("/big/"):
        return http.Response(200, request.path.encode().ljust(BIG, b"."))
    if request.path == "/bad-header":  # a Lambda proxy answer with a line break in a header
        return http.Response(200, b"x", [("X-Injected", "a\r\nSet-Cookie: evil=1")])
    document = {"method": request.method, "path": request.path, "query": request.query}
    return http.Response.json(200, document | {"body": request.body.decode()})


@pytest.fixture
async def address() -> AsyncIterator[tuple[str, int]]:
    sock = http.bind()
    server = await http.serve(_echo, sock)
    yield sock.getsockname()
    await server.close()


async def _exchange(address: tuple[str, int], data: bytes, answers: int) -> list[http1.Response]:
    reader, writer = await asyncio.open_connection(*address)
    writer.write(data)
    parser = http1.ResponseParser()
    got: list[http1.Response] = []
    async with asyncio.timeout(DEADLINE):
        while len(got) < answers:
            response = parser.next()
            if response is not None:
                got.append(response)
                continue
            chunk = await reader.read(65536)
            if not chunk:
                break
            parser.feed(chunk)
    writer.close()
    return got


async def test_pipelined_requests_are_answered_in_order_on_one_connection(
    address: tuple[str, int],
) -> None:
    data = (
        b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
        b"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;e=1\r\nabc\r\n0\r\n\r\n"
        b"POST /c HTTP/1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
    )
    got = await _exchange(address, data, 3)
    assert [json.loads(r.body) for r in got] == [
        {"method": "GET", "path": "/a", "query": "x=1", "body": ""},
        {"method": "POST", "path": "/b", "query": "", "body": "abc"},
        {"method": "POST", "path": "/c", "query": "", "body": "hi"},
    ]
    assert [r.keep_alive for r in got] == [True, True, False]
    assert got[2].header("connection") == "close"


async def test_continue_is_sent_before_the_body_is(address: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*address)
    writer.write(b"PUT /d HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
    async with asyncio.timeout(DEADLINE):
        assert await reader.readuntil(b"\r\n\r\n") == http1.CONTINUE
    writer.write(b"data")
    parser = http1.ResponseParser()
    async with asyncio.timeout(DEADLINE):
        while (response := parser.next()) is None:
            parser.feed(await reader.read(65536))
    assert json.loads(response.body)["body"] == "data"
    writer.close()


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (b"NONSENSE\r\n\r\n", 400, "Bad request: malformed request line 'NONSENSE'"),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
            413,
            "Request body of 99999999999 bytes is too large.",
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            501,
            "Bad request: unsupported Transfer-Encoding 'gzip' (only chunked)",
        ),
    ],
)
async def test_malformed_requests_get_a_clear_answer_and_the_server_keeps_serving(
    address: tuple[str, int], data: bytes, status: int, message: str
) -> None:
    (answer,) = await _exchange(address, data, 1)
    assert (answer.status, answer.keep_alive) == (status, False)
    assert json.loads(answer.body) == {"message": message}
    (after,) = await _exchange(address, b"GET /next HTTP/1.0\r\n\r\n", 1)
    assert json.loads(after.body)["path"] == "/next"


async def test_a_response_that_would_split_is_replaced_by_502(address: tuple[str, int]) -> None:
    (answer,) = await _exchange(address, b"GET /bad-header HTTP/1.1\r\n\r\n", 1)
    assert (answer.status, json.loads(answer.body)) == (502, {"message": "Internal server error"})
    assert answer.header("set-cookie") is None


async def test_a_client_that_stops_sending_still_gets_its_answer(address: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*address)
    writer.write(b"GET /half HTTP/1.1\r\nHost: h\r\n\r\n")
    writer.write_eof()  # e.g. `printf ... | nc`: the request, then end of input
    parser = http1.ResponseParser()
    async with asyncio.timeout(DEADLINE):
        while chunk := await reader.read(65536):  # until the server closes
            parser.feed(chunk)
    answer = parser.feed_eof()
    assert answer is not None and json.loads(answer.body)["path"] == "/half"
    writer.close()


async def test_a_client_that_leaves_before_its_answer_leaves_the_server_serving(
    address: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    _, writer = await asyncio.open_connection(*address)
    writer.write(b"GET /wait HTTP/1.1\r\n\r\n")
    async with asyncio.timeout(DEADLINE):
        await gate.waiting.wait()
    writer.close()
    await writer.wait_closed()
    (other,) = await _exchange(address, b"GET /meanwhile HTTP/1.1\r\n\r\n", 1)
    assert json.loads(other.body)["path"] == "/meanwhile"
    gate.released.set()  # the invocation ends after its caller left: its answer goes nowhere
    async with asyncio.timeout(DEADLINE):
        await gate.answered.wait()
    await asyncio.sleep(0)  # (its answer is written, or dropped, right after)
    (after,) = await _exchange(address, b"GET /after HTTP/1.1\r\n\r\n", 1)
    assert json.loads(after.body)["path"] == "/after"
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []


async def test_requests_sent_far_ahead_wait_unread_and_are_answered_in_order() -> None:
    """More than the server reads ahead (1 MB) pipelined behind a slow request: it stops
    reading until that is answered, then answers everything, in order."""
    sock = http.bind()
    server = await http.serve(_echo, sock)
    try:
        body = b"b" * 8192
        request = b"POST /p%d HTTP/1.1\r\nContent-Length: 8192\r\n\r\n"
        data = b"GET /wait HTTP/1.1\r\n\r\n" + b"".join(request % i + body for i in range(300))
        exchange = asyncio.ensure_future(_exchange(sock.getsockname(), data, 301))
        async with asyncio.timeout(DEADLINE):
            (connection,) = server.connections or [None]
            while connection is None or not connection._paused:
                await asyncio.sleep(0.01)
                (connection,) = server.connections or [None]
        gate.released.set()
        async with asyncio.timeout(DEADLINE):
            got = await exchange
    finally:
        await server.close()
    assert [json.loads(r.body)["path"] for r in got] == ["/wait"] + [f"/p{i}" for i in range(300)]
    assert {len(json.loads(r.body)["body"]) for r in got[1:]} == {8192}


async def test_a_client_that_reads_slowly_gets_every_large_answer_in_order(
    address: tuple[str, int],
) -> None:
    """Answers larger than the transport's buffer to pipelined requests: the server waits for
    the client to read (pause_writing) instead of buffering them all."""
    reader, writer = await asyncio.open_connection(*address)
    writer.write(b"".join(b"GET /big/%d HTTP/1.1\r\n\r\n" % i for i in range(12)))
    await asyncio.sleep(0)
    parser = http1.ResponseParser()
    got: list[http1.Response] = []
    async with asyncio.timeout(DEADLINE * 3):
        while len(got) < 12:
            response = parser.next()
            if response is not None:
                got.append(response)
                continue
            parser.feed(await reader.read(16384))
    writer.close()
    assert [r.body[:8].rstrip(b".") for r in got] == [b"/big/%d" % i for i in range(12)]
    assert {len(r.body) for r in got} == {BIG}
