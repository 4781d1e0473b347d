"""The shared HTTP/1.1 codec, byte for byte: what each of relay's HTTP peers relies on."""

from __future__ import annotations

import ast
import email.utils
import itertools
from http import HTTPStatus
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.link import http1
from relay.link.http1 import Request, RequestParser, Response, ResponseParser

PIPELINED = (
    b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: 127.0.0.1:9001\r\n\r\n"
    b"POST /a?x=1 HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n"
    b'{"k": 1}'
    b"PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Checksum: abc\r\n\r\n"
    b"HEAD / HTTP/1.0\r\n\r\n"
)
EXPECTED = [
    Request("GET", "/2018-06-01/runtime/invocation/next", "HTTP/1.1", [("Host", "127.0.0.1:9001")]),
    Request(
        "POST",
        "/a?x=1",
        "HTTP/1.1",
        [("Content-Type", "application/json"), ("Content-Length", "8")],
        b'{"k": 1}',
    ),
    Request(
        "PUT",
        "/c",
        "HTTP/1.1",
        [("Transfer-Encoding", "chunked")],
        b"Wikipedia",
        trailers=[("X-Checksum", "abc")],
    ),
    Request("HEAD", "/", "HTTP/1.0", [], keep_alive=False),
]


def _drain(parser: RequestParser) -> list[Request]:
    requests = []
    while (request := parser.next()) is not None:
        requests.append(request)
    return requests


def test_pipelined_requests_in_one_feed() -> None:
    parser = RequestParser()
    parser.feed(PIPELINED)
    assert _drain(parser) == EXPECTED
    assert parser.idle


def test_a_request_split_at_every_byte_boundary() -> None:
    for cut in range(len(PIPELINED) + 1):
        parser = RequestParser()
        parser.feed(PIPELINED[:cut])
        first = _drain(parser)
        parser.feed(PIPELINED[cut:])
        assert first + _drain(parser) == EXPECTED, cut


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, len(PIPELINED)), max_size=12))
def test_requests_fed_in_any_pieces(cuts: list[int]) -> None:
    parser = RequestParser()
    got: list[Request] = []
    bounds = [0, *sorted(cuts), len(PIPELINED)]
    for start, end in itertools.pairwise(bounds):
        parser.feed(PIPELINED[start:end])
        got += _drain(parser)
    assert got == EXPECTED


def test_chunked_extensions_and_trailers() -> None:
    parser = RequestParser()
    parser.feed(
        b"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
        b"A ; name=value;flag\r\n0123456789\r\n"
        b"00\r\nTrailer-One: 1\r\ntrailer-two:  two words \r\n\r\n"
    )
    with pytest.raises(http1.HttpError, match="unsupported Transfer-Encoding") as raised:
        parser.next()
    assert raised.value.status == 501  # only chunked alone is supported
    parser = RequestParser()
    parser.feed(
        b"POST /x HTTP/1.1\r\nTransfer-Encoding: Chunked\r\nContent-Length: 99\r\n\r\n"
        b"A ; name=value;flag\r\n0123456789\r\n"
        b"00\r\nTrailer-One: 1\r\ntrailer-two:  two words \r\n\r\n"
    )
    request = parser.next()
    assert request is not None
    assert request.body == b"0123456789"  # Transfer-Encoding wins over Content-Length
    assert request.trailers == [("Trailer-One", "1"), ("trailer-two", "two words")]
    assert parser.idle


def test_expect_100_continue_is_signalled_once_while_the_body_is_due() -> None:
    parser = RequestParser()
    parser.feed(b"POST /r HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n")
    assert parser.next() is None
    assert parser.continue_due() is True
    assert parser.continue_due() is False  # once
    parser.feed(b"ab")
    assert parser.next() is None
    assert parser.continue_due() is False
    parser.feed(b"cde")
    request = parser.next()
    assert request is not None and request.body == b"abcde"
    assert http1.CONTINUE == b"HTTP/1.1 100 Continue\r\n\r\n"
    # the body came with the head, or there is none: nothing to wait for
    parser.feed(b"POST /r HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nz")
    assert parser.next() is not None and parser.continue_due() is False
    parser.feed(b"GET /r HTTP/1.1\r\nExpect: 100-continue\r\n\r\n")
    assert parser.next() is not None and parser.continue_due() is False


@pytest.mark.parametrize(
    ("version", "connection", "keep_alive"),
    [
        ("HTTP/1.0", None, False),
        ("HTTP/1.0", "keep-alive", True),
        ("HTTP/1.0", "Keep-Alive, close", False),
        ("HTTP/1.1", None, True),
        ("HTTP/1.1", "close", False),
        ("HTTP/1.1", "Upgrade, Close", False),
        ("HTTP/1.1", "keep-alive", True),
    ],
)
def test_keep_alive_from_version_and_connection(
    version: str, connection: str | None, keep_alive: bool
) -> None:
    head = f"GET / {version}\r\n" + (f"Connection: {connection}\r\n" if connection else "")
    parser = RequestParser()
    parser.feed((head + "\r\n").encode())
    request = parser.next()
    assert request is not None and request.keep_alive is keep_alive


def test_headers_keep_case_and_order_and_are_looked_up_case_insensitively() -> None:
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\r\nX-A: 1\r\nx-b:2\r\nX-a:  3 \r\nEmpty:\r\n\r\n")
    request = parser.next()
    assert request is not None
    assert request.headers == [("X-A", "1"), ("x-b", "2"), ("X-a", "3"), ("Empty", "")]
    assert request.header("x-a") == "1,3"
    assert request.header("X-B") == "2"
    assert request.header("missing", "default") == "default"


def test_empty_lines_before_a_request_are_ignored() -> None:
    parser = RequestParser()
    parser.feed(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n")
    assert parser.next() == Request("GET", "/", "HTTP/1.1", [])


@pytest.mark.parametrize(
    ("data", "error", "message", "status"),
    [
        (b"NONSENSE\r\n\r\n", http1.HttpError, "malformed request line 'NONSENSE'", 400),
        (b"GET / HTTP/2.0\r\n\r\n", http1.HttpError, "malformed request line", 400),
        (b"GET  / HTTP/1.1\r\n\r\n", http1.HttpError, "malformed request line", 400),
        (b"GET / HTTP/1.1\r\nNo-Colon\r\n\r\n", http1.HttpError, "malformed header line", 400),
        (b"GET / HTTP/1.1\r\nX : y\r\n\r\n", http1.HttpError, "malformed header line", 400),
        (b"GET / HTTP/1.1\r\n folded\r\n\r\n", http1.HttpError, "malformed header line", 400),
        (b"GET / HTTP/1.1\r\nX: a\nY: b\r\n\r\n", http1.HttpError, "bare CR or LF", 400),
        (
            b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            http1.HttpError,
            "bad Content-Length 'x'",
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
            http1.HttpError,
            "bad Content-Length",
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 1_0\r\n\r\n",
            http1.HttpError,
            "bad Content-Length",
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: \xb2\r\n\r\n",
            http1.HttpError,
            "bad Content-Length",
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            http1.HttpError,
            "conflicting Content-Length headers",
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            http1.HttpError,
            "unsupported Transfer-Encoding 'gzip' (only chunked)",
            501,
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x10\r\n",
            http1.HttpError,
            "malformed chunk size b'0x10'",
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
            http1.HttpError,
            "chunk data not followed by CRLF",
            400,
        ),
        (
            b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 20_000 + b"\r\n",
            http1.HeadTooLarge,
            "the head is over 65536 bytes",
            431,
        ),
        (
            b"GET / HTTP/1.1\r\n" + b"X" * 70_000,
            http1.HeadTooLarge,
            "the head is over 65536 bytes",
            431,
        ),
    ],
)
def test_malformed_requests_raise_the_documented_error(
    data: bytes, error: type[http1.HttpError], message: str, status: int
) -> None:
    parser = RequestParser()
    parser.feed(data)
    with pytest.raises(error) as raised:
        parser.next()
    assert type(raised.value) is error
    assert str(raised.value).startswith(message)
    assert raised.value.status == status
    with pytest.raises(error):  # the connection is out of step: the parser stays failed
        parser.next()


def test_a_body_over_the_limit_is_refused_from_the_head() -> None:
    parser = RequestParser(max_body=10)
    parser.feed(b"POST /2018-06-01/runtime/invocation/r-9/response HTTP/1.1\r\n")
    assert parser.next() is None
    parser.feed(b"Content-Length: 11\r\n\r\n")  # no body byte needed to decide
    with pytest.raises(http1.BodyTooLarge) as raised:
        parser.next()
    assert str(raised.value) == "the body of 11 bytes is over 10 bytes"
    assert (raised.value.status, raised.value.length) == (413, 11)
    assert isinstance(raised.value.head, Request)
    assert raised.value.head.target == "/2018-06-01/runtime/invocation/r-9/response"
    chunked = RequestParser(max_body=10)
    chunked.feed(b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\n")
    with pytest.raises(http1.BodyTooLarge) as raised:
        chunked.next()
    assert (str(raised.value), raised.value.length) == ("the chunked body is over 10 bytes", None)


# -- responses -------------------------------------------------------------------------------


def _responses(parser: ResponseParser, data: bytes) -> list[Response]:
    parser.feed(data)
    found = []
    while (response := parser.next()) is not None:
        found.append(response)
    return found


def test_responses_by_length_chunked_and_without_a_body() -> None:
    parser = ResponseParser()
    parser.expect_head()
    got = _responses(
        parser,
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"  # to the HEAD: no body follows
        b"HTTP/1.1 100 Continue\r\n\r\n"  # interim: skipped
        b"HTTP/1.1 410 Gone\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n"
        b'{"a": 1\r\n1\r\n}\r\n0\r\n\r\n'
        b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"
        b"HTTP/1.1 201 \r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
    )
    assert got == [
        Response(200, "OK", "HTTP/1.1", [("Content-Length", "3")]),
        Response(410, "Gone", "HTTP/1.1", [("Transfer-Encoding", "chunked")], b'{"a": 1}'),
        Response(204, "No Content", "HTTP/1.1", [("Content-Length", "5")]),
        Response(
            201,
            "",
            "HTTP/1.1",
            [("Connection", "close"), ("Content-Length", "2")],
            b"{}",
            keep_alive=False,
        ),
    ]
    assert parser.feed_eof() is None  # closed between responses: nothing lost


def test_a_response_without_framing_ends_with_the_connection() -> None:
    parser = ResponseParser()
    assert _responses(parser, b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\nhello ") == []
    assert _responses(parser, b"world") == []
    assert parser.feed_eof() == Response(
        200, "OK", "HTTP/1.0", [("Server", "old")], b"hello world", keep_alive=False
    )


def test_a_response_cut_short_is_an_error() -> None:
    parser = ResponseParser()
    assert _responses(parser, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc") == []
    with pytest.raises(http1.HttpError, match="the connection closed in the middle of a response"):
        parser.feed_eof()


@pytest.mark.parametrize(
    "line", [b"HTTP/1.1 2000 OK", b"HTTP/1.1 20x OK", b"ICY 200 OK", b"HTTP/1.1", b"<html>"]
)
def test_malformed_status_lines(line: bytes) -> None:
    parser = ResponseParser()
    parser.feed(line + b"\r\n\r\n")
    with pytest.raises(http1.HttpError, match="malformed status line"):
        parser.next()


# -- encoders --------------------------------------------------------------------------------


def test_encode_request_exact_bytes_and_round_trip() -> None:
    data = http1.encode_request(
        "POST", "/s/@connections/c%3D1", [("X-Amz-Date", "20261201T180000Z")], b"{}", host="h:1"
    )
    assert data == (
        b"POST /s/@connections/c%3D1 HTTP/1.1\r\nHost: h:1\r\nX-Amz-Date: 20261201T180000Z\r\n"
        b"Content-Length: 2\r\n\r\n{}"
    )
    parser = RequestParser()
    parser.feed(data)
    assert parser.next() == Request(
        "POST",
        "/s/@connections/c%3D1",
        "HTTP/1.1",
        [("Host", "h:1"), ("X-Amz-Date", "20261201T180000Z"), ("Content-Length", "2")],
        b"{}",
    )
    assert http1.encode_request("GET", "/") == b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"


def test_encode_response_exact_bytes() -> None:
    assert http1.encode_response(202, b"{}", [("Content-Type", "application/json")]) == (
        b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    )
    assert http1.encode_response(799, keep_alive=False) == (
        b"HTTP/1.1 799 Unknown\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    assert http1.encode_response(204, b"ignored") == b"HTTP/1.1 204 No Content\r\n\r\n"
    assert http1.encode_response(200, b"abc", head=True) == (
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"
    )
    before = http1.http_date()
    dated = http1.encode_response(200, date=True)
    after = http1.http_date()  # (the second may tick in between)
    assert dated in {
        b"HTTP/1.1 200 OK\r\nDate: " + d.encode() + b"\r\nContent-Length: 0\r\n\r\n"
        for d in (before, after)
    }
    own = http1.encode_response(200, headers=[("date", "x")], date=True)
    assert own == b"HTTP/1.1 200 OK\r\ndate: x\r\nContent-Length: 0\r\n\r\n"
    parser = ResponseParser()
    parser.feed(http1.encode_response(413, b"big", [("A", "b")], keep_alive=False))
    assert parser.next() == Response(
        413,
        "Request Entity Too Large",
        "HTTP/1.1",
        [("A", "b"), ("Content-Length", "3"), ("Connection", "close")],
        b"big",
        keep_alive=False,
    )


@pytest.mark.parametrize("value", ["a\r\nInjected: 1", "a\nb", "a\rb"])
def test_encoders_refuse_line_breaks_in_headers(value: str) -> None:
    with pytest.raises(http1.HttpError, match="contains CR or LF"):
        http1.encode_response(200, headers=[("X", value)])
    with pytest.raises(http1.HttpError, match="contains CR or LF"):
        http1.encode_request("GET", "/", [(value, "x")])


def test_reasons_and_dates_match_the_stdlib() -> None:
    assert {status.value: status.phrase for status in HTTPStatus} == http1.REASONS
    for now in (0, 1_796_148_000, 1_800_000_000.9):
        assert http1.http_date(now) == email.utils.formatdate(int(now), usegmt=True)


def test_the_module_parses_as_python_3_9_and_imports_only_the_stdlib() -> None:
    """It is copied into the stub asset, which runs on every Lambda Python runtime (3.9+)."""
    source = Path(http1.__file__).read_text()
    tree = ast.parse(source, feature_version=(3, 9))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported == {"__future__", "collections", "time", "typing"}
