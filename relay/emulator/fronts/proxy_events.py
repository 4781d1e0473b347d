"""Lambda proxy events as API Gateway builds them, and the responses it maps back.

Version 1.0 is the REST API's event (and an HTTP API's with `payloadFormatVersion: 1.0`);
version 2.0 is the HTTP API's default. The shapes follow AWS's documented examples, kept in
tests/emulator/fronts/data/. Request handling is pure here: servers live beside it.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from relay.emulator import http, ids

_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "date"}
_TEXT_TYPES = (
    "text/",
    "application/json",
    "application/javascript",
    "application/xml",
    "application/x-www-form-urlencoded",
    "application/graphql",
)


class MalformedResponse(ValueError):
    """The function's answer is not a valid proxy response (API Gateway answers 502/500)."""


@dataclass(frozen=True)
class ApiContext:
    """What the front door knows beyond the request itself."""

    api_id: str
    stage: str
    domain: str  # host:port the client called
    account_id: str
    resource_id: str = ""
    resource_path: str = ""  # REST: "/items/{id}"; HTTP API 1.0: the route's path
    route_key: str = ""  # HTTP API: "GET /items/{id}" or "$default"
    stage_variables: Mapping[str, str] | None = None
    path_parameters: Mapping[str, str] | None = None
    authorizer: Mapping[str, Any] | None = None


def is_text(content_type: str | None) -> bool:
    if not content_type:
        return False
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind.startswith(_TEXT_TYPES) or kind.endswith(("+json", "+xml"))


def media_type_matches(content_type: str | None, patterns: Sequence[str]) -> bool:
    """API Gateway's binaryMediaTypes test: `image/png`, `image/*` or `*/*`."""
    if not content_type:
        return False
    kind = content_type.split(";", 1)[0].strip().lower()
    for pattern in patterns:
        pattern = pattern.lower().replace("~1", "/")
        if pattern in ("*/*", kind):
            return True
        if pattern.endswith("/*") and kind.startswith(pattern[:-1]):
            return True
    return False


def _forwarding(request: http.Request, domain: str) -> list[tuple[str, str]]:
    """API Gateway adds these; keep the client's own if it sent them."""
    sent = {name.lower() for name, _ in request.headers}
    added = []
    if "x-forwarded-for" not in sent:
        added.append(("X-Forwarded-For", request.peer))
    if "x-forwarded-port" not in sent:
        added.append(("X-Forwarded-Port", domain.rsplit(":", 1)[-1]))
    if "x-forwarded-proto" not in sent:
        added.append(("X-Forwarded-Proto", "http"))
    return added


def _query_pairs(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


def event_v1(
    request: http.Request,
    context: ApiContext,
    *,
    path: str,
    binary_media_types: Sequence[str] = (),
    http_api: bool = False,
) -> dict[str, Any]:
    """The version 1.0 proxy event; `path` is the request path below the stage.

    Single-value `headers` / `queryStringParameters` hold the last value sent, the
    `multiValue*` maps every value in order; absent maps are null, as in AWS's examples.
    """
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in [*request.headers, *_forwarding(request, context.domain)]:
        headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    query: dict[str, str] | None = None
    multi_query: dict[str, list[str]] | None = None
    pairs = _query_pairs(request.query)
    if pairs:
        query, multi_query = {}, {}
        for key, value in pairs:
            query[key] = value
            multi_query.setdefault(key, []).append(value)
    now = time.time()
    request_id = ids.request_id()
    lower = {k.lower(): v for k, v in headers.items()}
    identity: dict[str, Any] = {
        "cognitoIdentityPoolId": None,
        "accountId": None,
        "cognitoIdentityId": None,
        "caller": None,
        "sourceIp": request.peer,
        "principalOrgId": None,
        "accessKey": None,
        "cognitoAuthenticationType": None,
        "cognitoAuthenticationProvider": None,
        "userArn": None,
        "userAgent": lower.get("user-agent", ""),
        "user": None,
    }
    stage_path = path if http_api and context.stage == "$default" else f"/{context.stage}{path}"
    request_context: dict[str, Any] = {
        "resourceId": context.resource_id or None,
        "resourcePath": context.resource_path,
        "httpMethod": request.method,
        "extendedRequestId": ids.gateway_request_id(),
        "requestTime": ids.request_time(now),
        "path": stage_path,
        "accountId": context.account_id,
        "protocol": request.version,
        "stage": context.stage,
        "domainPrefix": context.api_id,
        "requestTimeEpoch": int(now * 1000),
        "requestId": request_id,
        "identity": identity,
        "domainName": context.domain,
        "apiId": context.api_id,
    }
    if context.authorizer is not None:
        request_context["authorizer"] = dict(context.authorizer)
    event: dict[str, Any] = {
        "resource": context.resource_path,
        "path": path,
        "httpMethod": request.method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": dict(context.path_parameters) if context.path_parameters else None,
        "stageVariables": dict(context.stage_variables) if context.stage_variables else None,
        "requestContext": request_context,
    }
    if http_api:
        event = {"version": "1.0", **event}
    body, encoded = _body(request, lower.get("content-type"), binary_media_types, http_api)
    event["body"] = body
    event["isBase64Encoded"] = encoded
    return event


def _body(
    request: http.Request, content_type: str | None, binary: Sequence[str], http_api: bool
) -> tuple[str | None, bool]:
    if not request.body:
        return None, False
    if http_api:
        binary_body = not is_text(content_type)
    else:  # REST: only the API's binaryMediaTypes arrive base64-encoded
        binary_body = media_type_matches(content_type, binary)
    if not binary_body:
        try:
            return request.body.decode(), False
        except UnicodeDecodeError:
            if not http_api:
                return request.body.decode(errors="replace"), False
    return base64.b64encode(request.body).decode(), True


def event_v2(request: http.Request, context: ApiContext, *, path: str) -> dict[str, Any]:
    """The HTTP API's version 2.0 event: lower-case headers and query values joined with
    commas, cookies apart, `rawPath` as sent (the stage prefix included for named stages)."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in [*request.headers, *_forwarding(request, context.domain)]:
        lname = name.lower()
        if lname == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        headers[lname] = f"{headers[lname]},{value}" if lname in headers else value
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": context.route_key,
        "rawPath": request.path,
        "rawQueryString": request.query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    pairs = _query_pairs(request.query)
    if pairs:
        params: dict[str, str] = {}
        for key, value in pairs:
            params[key] = f"{params[key]},{value}" if key in params else value
        event["queryStringParameters"] = params
    request_context: dict[str, Any] = {
        "accountId": context.account_id,
        "apiId": context.api_id,
        "domainName": context.domain,
        "domainPrefix": context.api_id,
        "http": {
            "method": request.method,
            "path": path if context.stage == "$default" else f"/{context.stage}{path}",
            "protocol": request.version,
            "sourceIp": request.peer,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": ids.gateway_request_id(),
        "routeKey": context.route_key,
        "stage": context.stage,
        "time": ids.request_time(now),
        "timeEpoch": int(now * 1000),
    }
    if context.authorizer is not None:
        request_context["authorizer"] = dict(context.authorizer)
    event["requestContext"] = request_context
    if context.path_parameters:
        event["pathParameters"] = dict(context.path_parameters)
    if context.stage_variables:
        event["stageVariables"] = dict(context.stage_variables)
    add_body_v2(event, request.body, headers.get("content-type"))
    return event


def add_body_v2(event: dict[str, Any], body: bytes, content_type: str | None) -> None:
    """Payload 2.0's body (HTTP APIs and function URLs): text as is, anything else base64."""
    if not body:
        event["isBase64Encoded"] = False
        return
    if is_text(content_type):
        try:
            event["body"], event["isBase64Encoded"] = body.decode(), False
            return
        except UnicodeDecodeError:
            pass
    event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True


def _header_list(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    headers = document.get("headers") or {}
    multi = document.get("multiValueHeaders") or {}
    if not isinstance(headers, dict) or not isinstance(multi, dict):
        raise MalformedResponse("headers and multiValueHeaders must be objects")
    out: list[tuple[str, str]] = []
    # As API Gateway does: multiValueHeaders first; a single-value header of the same name
    # is appended to them (documented merge).
    for name, values in multi.items():
        if not isinstance(values, list):
            raise MalformedResponse(f"multiValueHeaders[{name!r}] must be a list")
        out.extend((str(name), _scalar(v)) for v in values)
    for name, value in headers.items():
        if isinstance(value, (dict, list)):
            raise MalformedResponse(f"headers[{name!r}] must be a string")
        out.append((str(name), _scalar(value)))
    return [(k, v) for k, v in out if k.lower() not in _HOP_HEADERS]


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def map_v1_response(
    payload: bytes, *, binary_media_types: Sequence[str] = (), accept: str | None = None
) -> http.Response:
    """A version 1.0 proxy response → HTTP; raises MalformedResponse as API Gateway would 502.

    `body` must be a string; base64 bodies are decoded only when the response's content
    type (or the request's Accept) is one of the API's binary media types, as REST APIs do.
    """
    try:
        document = json.loads(payload or b"null")
    except ValueError:
        raise MalformedResponse("the function's output is not JSON") from None
    if not isinstance(document, dict):
        raise MalformedResponse("the function's output is not a JSON object")
    unknown = set(document) - {
        "statusCode",
        "headers",
        "multiValueHeaders",
        "body",
        "isBase64Encoded",
    }
    if unknown:
        raise MalformedResponse(f"unexpected field(s) {sorted(unknown)} in the proxy response")
    if "statusCode" not in document:
        raise MalformedResponse("the proxy response has no statusCode")
    status = document["statusCode"]
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedResponse(f"statusCode {status!r} is not an HTTP status")
    headers = _header_list(document)
    body = document.get("body")
    if body is not None and not isinstance(body, str):
        raise MalformedResponse("body must be a string")
    data = (body or "").encode()
    if document.get("isBase64Encoded") and body:
        content_type = next((v for k, v in headers if k.lower() == "content-type"), None)
        if media_type_matches(content_type, binary_media_types) or media_type_matches(
            accept, binary_media_types
        ):
            try:
                data = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                raise MalformedResponse("isBase64Encoded body is not base64") from None
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return http.Response(status, data, headers)


def map_v2_response(payload: bytes) -> http.Response:
    """HTTP API payload 2.0 mapping: a dict with `statusCode` is a response; any other JSON
    is a 200 `application/json` body verbatim (the simple format); raises MalformedResponse."""
    try:
        document = json.loads(payload or b"null")
    except ValueError:
        raise MalformedResponse("the function's output is not JSON") from None
    if not isinstance(document, dict) or "statusCode" not in document:
        return http.Response(200, payload, [("Content-Type", "application/json")])
    status = document.get("statusCode")
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedResponse(f"statusCode {status!r} is not an HTTP status")
    headers: list[tuple[str, str]] = []
    for name, value in (document.get("headers") or {}).items():
        if str(name).lower() not in _HOP_HEADERS:
            headers.append((str(name), _scalar(value)))
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    for cookie in document.get("cookies") or []:
        headers.append(("Set-Cookie", str(cookie)))
    body = document.get("body")
    if body is None:
        data = b""
    elif document.get("isBase64Encoded"):
        try:
            data = base64.b64decode(str(body), validate=True)
        except (binascii.Error, ValueError):
            raise MalformedResponse("isBase64Encoded body is not base64") from None
    else:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
    return http.Response(status, data, headers)
