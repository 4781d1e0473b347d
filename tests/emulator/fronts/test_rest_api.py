"""REST API front door: routing, the 1.0 proxy event against AWS's documented example,
response mapping and its 502s, binary bodies, non-proxy and MOCK integrations, CORS
preflight, the integration timeout and Lambda authorizers."""

from __future__ import annotations

import base64
import json

import pytest
import urllib3

from relay.emulator import Emulator
from relay.emulator.fronts.rest_api import (
    Authorizer,
    Integration,
    IntegrationResponse,
    Method,
    RestApi,
    RestApiSpec,
)
from tests.emulator.fronts.fixtures.fronts_handlers import PNG
from tests.emulator.fronts.shapes import differences, documented

HTTP = urllib3.PoolManager(retries=False, timeout=30)


def _proxy(timeout: float = 29.0) -> Integration:
    return Integration("AWS_PROXY", "front-proxy", timeout=timeout)


CORS_OPTIONS = Method(
    "OPTIONS",
    Integration(
        "MOCK",
        request_templates={"application/json": "{ statusCode: 200 }"},
        responses=[
            IntegrationResponse(
                "204",
                parameters={
                    "method.response.header.Access-Control-Allow-Headers": (
                        "'Content-Type,Authorization'"
                    ),
                    "method.response.header.Access-Control-Allow-Origin": "'https://app.example'",
                    "method.response.header.Access-Control-Allow-Methods": "'OPTIONS,GET,POST'",
                },
            )
        ],
    ),
)


@pytest.fixture(scope="module")
def api(fronts_emu: Emulator) -> RestApi:
    token = Authorizer("TokenAuth", "TOKEN", "front-authorizer")
    request_auth = Authorizer(
        "RequestAuth", "REQUEST", "front-authorizer", ("method.request.querystring.token",)
    )
    spec = RestApiSpec(
        name="shop",
        stage="dev",
        stage_variables={"tier": "test"},
        binary_media_types=("image/png",),
        resources={
            "/": {"GET": Method("GET", _proxy())},
            "/items": {"ANY": Method("ANY", _proxy()), "OPTIONS": CORS_OPTIONS},
            "/items/{id}": {"GET": Method("GET", _proxy())},
            "/items/special": {"GET": Method("GET", _proxy())},
            "/files/{proxy+}": {"ANY": Method("ANY", _proxy())},
            "/slow": {"GET": Method("GET", _proxy(timeout=0.5))},
            "/custom": {
                "POST": Method(
                    "POST",
                    Integration(
                        "AWS",
                        "front-custom",
                        responses=[
                            IntegrationResponse("200"),
                            IntegrationResponse("400", selection_pattern="bad input.*"),
                        ],
                    ),
                )
            },
            "/private": {"GET": Method("GET", _proxy(), token)},
            "/by-query": {"GET": Method("GET", _proxy(), request_auth)},
        },
        resource_ids={"/items/{id}": "abc123"},
    )
    return fronts_emu.create_rest_api(spec)


def call(api: RestApi, method: str, path: str, **kwargs) -> urllib3.BaseHTTPResponse:
    return HTTP.request(method, api.url.rstrip("/") + path, **kwargs)


def event_of(response: urllib3.BaseHTTPResponse) -> dict:
    assert response.status == 200, response.data
    return json.loads(response.data)


def test_url_includes_the_stage(api: RestApi) -> None:
    assert api.url.startswith("http://127.0.0.1:") and api.url.endswith("/dev/")


def test_proxy_event_matches_the_documented_example(api: RestApi) -> None:
    response = call(
        api,
        "GET",
        "/items/42?tag=a&tag=b&q=x%20y",
        headers=urllib3.HTTPHeaderDict(
            [("X-Multi", "one"), ("X-Multi", "two"), ("User-Agent", "t/1")]
        ),
    )
    event = event_of(response)
    assert differences(event, documented("rest_proxy_v1.json")) == []
    assert event["resource"] == "/items/{id}"
    assert event["path"] == "/items/42"
    assert event["httpMethod"] == "GET"
    assert event["headers"]["X-Multi"] == "two"  # the last value, as REST APIs do
    assert event["multiValueHeaders"]["X-Multi"] == ["one", "two"]
    assert event["queryStringParameters"] == {"tag": "b", "q": "x y"}
    assert event["multiValueQueryStringParameters"] == {"tag": ["a", "b"], "q": ["x y"]}
    assert event["pathParameters"] == {"id": "42"}
    assert event["stageVariables"] == {"tier": "test"}
    assert event["body"] is None and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["path"] == "/dev/items/42"
    assert context["stage"] == "dev"
    assert context["resourcePath"] == "/items/{id}"
    assert context["resourceId"] == "abc123"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userAgent"] == "t/1"
    assert context["apiId"] == api.api_id and context["accountId"] == "123456789012"
    assert "authorizer" not in context


def test_root_and_no_query_give_nulls(api: RestApi) -> None:
    event = event_of(call(api, "GET", "/"))
    assert event["resource"] == "/" and event["path"] == "/"
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None


def test_literal_resource_beats_a_path_parameter(api: RestApi) -> None:
    assert event_of(call(api, "GET", "/items/special"))["resource"] == "/items/special"


def test_greedy_proxy_resource_and_any_method(api: RestApi) -> None:
    event = event_of(call(api, "DELETE", "/files/a/b/c.txt"))
    assert event["resource"] == "/files/{proxy+}"
    assert event["pathParameters"] == {"proxy": "a/b/c.txt"}
    assert event["httpMethod"] == "DELETE"


def test_unknown_resource_or_method_is_missing_authentication_token(api: RestApi) -> None:
    for method, path in [("GET", "/nope"), ("POST", "/items/1"), ("GET", "/files")]:
        response = call(api, method, path)
        assert response.status == 403
        assert json.loads(response.data) == {"message": "Missing Authentication Token"}
        assert response.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


def test_other_stage_is_forbidden(api: RestApi) -> None:
    response = HTTP.request("GET", api.url.replace("/dev/", "/prod/") + "items")
    assert response.status == 403 and json.loads(response.data) == {"message": "Forbidden"}


def test_text_body_arrives_as_text(api: RestApi) -> None:
    event = event_of(
        call(api, "POST", "/items", body=b'{"a": 1}', headers={"Content-Type": "application/json"})
    )
    assert event["body"] == '{"a": 1}' and event["isBase64Encoded"] is False


def test_binary_media_type_body_arrives_base64(api: RestApi) -> None:
    event = event_of(call(api, "POST", "/items", body=PNG, headers={"Content-Type": "image/png"}))
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == PNG


def test_base64_response_is_decoded_for_a_binary_media_type(api: RestApi) -> None:
    response = call(api, "GET", "/items?mode=binary", headers={"Accept": "image/png"})
    assert response.status == 200
    assert response.data == PNG
    assert response.headers["Content-Type"] == "image/png"


def test_multi_value_response_headers(api: RestApi) -> None:
    response = call(api, "GET", "/items?mode=cookies")
    assert response.status == 201 and response.data == b"made"
    assert response.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    assert response.headers["X-One"] == "1"


@pytest.mark.parametrize("mode", ["malformed", "crash", "simple"])
def test_malformed_response_or_error_is_502(api: RestApi, mode: str) -> None:
    response = call(api, "GET", f"/items?mode={mode}")
    assert response.status == 502
    assert json.loads(response.data) == {"message": "Internal server error"}
    assert response.headers["x-amzn-ErrorType"] == "InternalServerErrorException"


def test_integration_timeout_is_504_and_the_api_keeps_serving(api: RestApi) -> None:
    response = call(api, "GET", "/slow?mode=sleep&seconds=3")
    assert response.status == 504
    assert json.loads(response.data) == {"message": "Endpoint request timed out"}
    assert call(api, "GET", "/items/1").status == 200


def test_non_proxy_integration_passes_the_body_through(api: RestApi) -> None:
    response = call(
        api, "POST", "/custom", body=b'{"n": 3}', headers={"Content-Type": "application/json"}
    )
    assert response.status == 200
    assert json.loads(response.data) == {"got": {"n": 3}}


def test_non_proxy_error_selects_the_matching_integration_response(api: RestApi) -> None:
    response = call(
        api, "POST", "/custom", body=b'{"fail": "x"}', headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    assert json.loads(response.data)["errorMessage"] == "bad input: x"


def test_cors_preflight_is_answered_as_configured(api: RestApi) -> None:
    response = call(
        api,
        "OPTIONS",
        "/items",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert response.headers["Access-Control-Allow-Methods"] == "OPTIONS,GET,POST"
    assert response.headers["Access-Control-Allow-Headers"] == "Content-Type,Authorization"


def test_token_authorizer_allows_and_passes_its_context(api: RestApi) -> None:
    event = event_of(call(api, "GET", "/private", headers={"Authorization": "Bearer allow"}))
    authorizer = event["requestContext"]["authorizer"]
    assert authorizer["principalId"] == "user-7"
    assert authorizer["tier"] == "gold" and authorizer["seen"] == "TOKEN"
    assert isinstance(authorizer["integrationLatency"], int)


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({}, 401, "Unauthorized"),
        ({"Authorization": "unauthorized"}, 401, "Unauthorized"),
        (
            {"Authorization": "nope"},
            403,
            "User is not authorized to access this resource with an explicit deny",
        ),
        ({"Authorization": "broken"}, 500, None),
    ],
)
def test_token_authorizer_refusals(
    api: RestApi, headers: dict, status: int, message: str | None
) -> None:
    response = call(api, "GET", "/private", headers=headers)
    assert response.status == status
    assert json.loads(response.data) == {"message": message}


def test_request_authorizer_reads_its_identity_source(api: RestApi) -> None:
    assert call(api, "GET", "/by-query").status == 401
    event = event_of(call(api, "GET", "/by-query?token=allow"))
    assert event["requestContext"]["authorizer"]["seen"] == "REQUEST"
    assert call(api, "GET", "/by-query?token=other").status == 403
