"""The emulator's HTTP server on the wire: the codec's decisions as a client sees them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from relay.emulator import http
from relay.link import http1

pytestmark = pytest.mark.anyio
DEADLINE = 10


async def _echo(request: http.Request) -> http.Response:
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
