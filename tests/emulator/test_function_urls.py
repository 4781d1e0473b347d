"""Function URLs: payload format 2.0 in, Lambda's response mapping out, over plain HTTP."""

from __future__ import annotations

import base64
import http.client
import json
from urllib.parse import urlsplit

import pytest

from relay.emulator import Emulator


def _request(
    url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> tuple[int, list[tuple[str, str]], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers or []:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        conn.close()


def _url(emu: Emulator, name: str) -> str:
    [info] = [f for f in emu.functions if f.name == name]
    assert info.function_url is not None
    return info.function_url


def _reply(emu: Emulator, result: object) -> tuple[int, list[tuple[str, str]], bytes]:
    """Ask the url-reply function to return `result` verbatim."""
    body = json.dumps({"result": result}).encode()
    return _request(
        _url(emu, "url-reply"), "POST", "/", body, [("Content-Type", "application/json")]
    )


def test_request_becomes_a_payload_2_event(emu: Emulator) -> None:
    status, _, body = _request(
        _url(emu, "url-echo"),
        "POST",
        "/orders/42?expand=items&tag=a&tag=b&empty=",
        b'{"qty": 3}',
        [
            ("Content-Type", "application/json"),
            ("Cookie", "session=abc; theme=dark"),
            ("X-Custom", "one"),
            ("X-Custom", "two"),
            ("User-Agent", "tests/1.0"),
        ],
    )
    assert status == 200
    event = json.loads(body)
    assert event["version"] == "2.0"
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "/orders/42"
    assert event["rawQueryString"] == "expand=items&tag=a&tag=b&empty="
    assert event["queryStringParameters"] == {"expand": "items", "tag": "a,b", "empty": ""}
    assert event["cookies"] == ["session=abc", "theme=dark"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-custom"] == "one,two"
    assert event["headers"]["content-type"] == "application/json"
    assert event["body"] == '{"qty": 3}'
    assert event["isBase64Encoded"] is False
    http_context = event["requestContext"]["http"]
    assert http_context == {
        "method": "POST",
        "path": "/orders/42",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "tests/1.0",
    }
    context = event["requestContext"]
    assert context["routeKey"] == "$default" and context["stage"] == "$default"
    assert context["domainName"] == urlsplit(_url(emu, "url-echo")).netloc
    assert isinstance(context["timeEpoch"], int) and context["requestId"]


def test_binary_body_is_base64_encoded(emu: Emulator) -> None:
    payload = bytes(range(256))
    status, _, body = _request(
        _url(emu, "url-echo"),
        "PUT",
        "/blob",
        payload,
        [("Content-Type", "application/octet-stream")],
    )
    event = json.loads(body)
    assert status == 200
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload
    assert "queryStringParameters" not in event and event["rawQueryString"] == ""


def test_get_without_body(emu: Emulator) -> None:
    status, _, body = _request(_url(emu, "url-echo"), "GET", "/")
    event = json.loads(body)
    assert status == 200 and "body" not in event and event["isBase64Encoded"] is False
    assert event["requestContext"]["http"]["method"] == "GET"


def test_response_mapping_status_headers_cookies(emu: Emulator) -> None:
    status, headers, body = _reply(
        emu,
        {
            "statusCode": 201,
            "headers": {"Content-Type": "text/plain", "X-Answer": "42"},
            "cookies": ["a=1; Max-Age=60", "b=2"],
            "body": "created",
        },
    )
    assert status == 201
    assert body == b"created"
    assert ("Content-Type", "text/plain") in headers
    assert ("X-Answer", "42") in headers
    assert [v for k, v in headers if k.lower() == "set-cookie"] == ["a=1; Max-Age=60", "b=2"]


def test_response_mapping_base64_body(emu: Emulator) -> None:
    raw = b"\x89PNG\r\n\x1a\n\x00\x01"
    status, headers, body = _reply(
        emu,
        {
            "statusCode": 200,
            "headers": {"Content-Type": "image/png"},
            "isBase64Encoded": True,
            "body": base64.b64encode(raw).decode(),
        },
    )
    assert (status, body) == (200, raw)
    assert ("Content-Type", "image/png") in headers


@pytest.mark.parametrize(
    ("result", "expected_body"),
    [
        ("Hello, world!", b'"Hello, world!"'),
        ({"message": "hi"}, b'{"message": "hi"}'),
        ([1, 2], b"[1, 2]"),
    ],
)
def test_output_without_status_code_is_200_json_verbatim(
    emu: Emulator, result: object, expected_body: bytes
) -> None:
    status, headers, body = _reply(emu, result)
    assert status == 200
    assert body == expected_body
    assert ("Content-Type", "application/json") in headers


def test_function_error_is_502(emu: Emulator) -> None:
    status, headers, body = _request(
        _url(emu, "url-fail"), "POST", "/", b"{}", [("Content-Type", "application/json")]
    )
    assert status == 502
    assert json.loads(body) == {"Message": "Internal Server Error"}
    assert ("Content-Type", "application/json") in headers


def test_keep_alive_serves_several_requests_on_one_connection(emu: Emulator) -> None:
    parts = urlsplit(_url(emu, "url-echo"))
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        for i in range(3):
            conn.request("GET", f"/n/{i}")
            response = conn.getresponse()
            assert json.loads(response.read())["rawPath"] == f"/n/{i}"
    finally:
        conn.close()
