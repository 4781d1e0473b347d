"""HTTP API front door: routes ($default, ANY, greedy, specificity), payload 2.0 and 1.0
against AWS's documented examples, the simple response format, errors and CORS."""

from __future__ import annotations

import json

import pytest
import urllib3

from relay.emulator import Emulator
from relay.emulator.fronts.http_api import Cors, HttpApi, HttpApiSpec, HttpRoute
from tests.emulator.fronts.shapes import differences, documented

HTTP = urllib3.PoolManager(retries=False, timeout=30)


@pytest.fixture(scope="module")
def api(fronts_emu: Emulator) -> HttpApi:
    spec = HttpApiSpec(
        name="orders",
        routes=[
            HttpRoute("GET /orders/{id}", "front-proxy"),
            HttpRoute("ANY /orders/{id}", "front-proxy", payload_version="1.0"),
            HttpRoute("GET /orders/latest", "front-proxy"),
            HttpRoute("ANY /static/{proxy+}", "front-proxy"),
            HttpRoute("GET /slow", "front-proxy", timeout=0.5),
            HttpRoute("$default", "front-proxy"),
        ],
        cors=Cors(
            allow_origins=("https://app.example",),
            allow_methods=("GET", "POST"),
            allow_headers=("content-type",),
            expose_headers=("x-total",),
            max_age=300,
        ),
    )
    return fronts_emu.create_http_api(spec)


@pytest.fixture(scope="module")
def staged(fronts_emu: Emulator) -> HttpApi:
    spec = HttpApiSpec(
        name="staged",
        stage="beta",
        routes=[HttpRoute("GET /ping", "front-proxy")],
        stage_variables={"color": "blue"},
    )
    return fronts_emu.create_http_api(spec)


def call(api: HttpApi, method: str, path: str, **kwargs) -> urllib3.BaseHTTPResponse:
    return HTTP.request(method, api.url.rstrip("/") + path, **kwargs)


def event_of(response: urllib3.BaseHTTPResponse) -> dict:
    assert response.status == 200, response.data
    return json.loads(response.data)


def test_default_stage_is_served_at_the_root(api: HttpApi) -> None:
    assert api.url == f"http://{api.domain}/"


def test_payload_2_matches_the_documented_example(api: HttpApi) -> None:
    headers = urllib3.HTTPHeaderDict(
        [
            ("X-Multi", "one"),
            ("X-Multi", "two"),
            ("Cookie", "a=1; b=2"),
            ("Content-Type", "text/plain"),
        ]
    )
    event = event_of(call(api, "POST", "/static/a.txt?p=1&p=2&q=", headers=headers, body=b"hi"))
    # pathParameters/stageVariables appear when there are some; this route has no stage vars.
    expected = documented("http_api_v2.json")
    del expected["stageVariables"]
    assert differences(event, expected) == []
    assert event["version"] == "2.0"
    assert event["routeKey"] == "ANY /static/{proxy+}"
    assert event["body"] == "hi" and event["isBase64Encoded"] is False


def test_exact_method_beats_any_and_literal_beats_parameter(api: HttpApi) -> None:
    event = event_of(call(api, "GET", "/orders/7"))
    assert event["routeKey"] == "GET /orders/{id}"
    assert event["pathParameters"] == {"id": "7"}
    assert event_of(call(api, "GET", "/orders/latest"))["routeKey"] == "GET /orders/latest"


def test_v2_headers_query_and_cookies(api: HttpApi) -> None:
    headers = urllib3.HTTPHeaderDict(
        [("X-Multi", "one"), ("X-Multi", "two"), ("Cookie", "a=1; b=2")]
    )
    event = event_of(call(api, "GET", "/orders/7?p=1&p=2", headers=headers))
    assert event["headers"]["x-multi"] == "one,two"
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["rawPath"] == "/orders/7" and event["rawQueryString"] == "p=1&p=2"
    assert event["queryStringParameters"] == {"p": "1,2"}
    http = event["requestContext"]["http"]
    assert http == {
        "method": "GET",
        "path": "/orders/7",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": http["userAgent"],
    }
    assert event["requestContext"]["stage"] == "$default"
    assert event["requestContext"]["apiId"] == api.api_id


def test_payload_1_route_matches_the_documented_example(api: HttpApi) -> None:
    event = event_of(call(api, "DELETE", "/orders/9?x=1&x=2"))
    assert differences(event, documented("http_api_v1.json")) == []
    assert event["version"] == "1.0"
    assert event["resource"] == "/orders/{id}" and event["path"] == "/orders/9"
    assert event["queryStringParameters"] == {"x": "2"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["requestContext"]["path"] == "/orders/9"


def test_greedy_route_and_default_route(api: HttpApi) -> None:
    event = event_of(call(api, "PUT", "/static/css/site.css"))
    assert event["routeKey"] == "ANY /static/{proxy+}"
    assert event["pathParameters"] == {"proxy": "css/site.css"}
    event = event_of(call(api, "PATCH", "/anything/else"))
    assert event["routeKey"] == "$default"
    assert event["requestContext"]["routeKey"] == "$default"
    assert "pathParameters" not in event


def test_simple_response_format(api: HttpApi) -> None:
    response = call(api, "GET", "/orders/1?mode=simple")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.data) == {"simple": True}


def test_function_error_is_500(api: HttpApi) -> None:
    response = call(api, "GET", "/orders/1?mode=crash")
    assert response.status == 500
    assert json.loads(response.data) == {"message": "Internal Server Error"}


def test_malformed_status_is_500(api: HttpApi) -> None:
    response = call(api, "GET", "/orders/1?mode=malformed")
    # A dict body is serialised by 2.0's mapping (API Gateway accepts it), status 200.
    assert response.status == 200 and json.loads(response.data) == {"not": "a string"}


def test_integration_timeout_is_503(api: HttpApi) -> None:
    response = call(api, "GET", "/slow?mode=sleep&seconds=3")
    assert response.status == 503
    assert json.loads(response.data) == {"message": "Service Unavailable"}


def test_cors_preflight_and_response_headers(api: HttpApi) -> None:
    response = call(
        api,
        "OPTIONS",
        "/orders/1",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert response.headers["Access-Control-Allow-Methods"] == "GET,POST"
    assert response.headers["Access-Control-Allow-Headers"] == "content-type"
    assert response.headers["Access-Control-Max-Age"] == "300"
    response = call(api, "GET", "/orders/1", headers={"Origin": "https://app.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert response.headers["Access-Control-Expose-Headers"] == "x-total"
    other = call(api, "GET", "/orders/1", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_named_stage_prefix_and_stage_variables(staged: HttpApi) -> None:
    assert staged.url.endswith("/beta/")
    event = event_of(call(staged, "GET", "/ping"))
    assert event["rawPath"] == "/beta/ping"
    assert event["requestContext"]["http"]["path"] == "/beta/ping"
    assert event["requestContext"]["stage"] == "beta"
    assert event["stageVariables"] == {"color": "blue"}
    assert call(staged, "GET", "/nope").status == 404
    missing = HTTP.request("GET", f"http://{staged.domain}/ping")
    assert missing.status == 404 and json.loads(missing.data) == {"message": "Not Found"}
