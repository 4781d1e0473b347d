"""API Gateway REST APIs (`RestApi`, `LambdaRestApi`): one loopback port per API, served at
`http://127.0.0.1:P/<stage>/`.

Per request: stage → most specific resource → method (or ANY) → Lambda authorizer → the
integration: Lambda proxy (event 1.0 and its response mapping), Lambda non-proxy with a
passthrough request template, or MOCK (how CDK answers CORS preflights). Every function call
goes through `FunctionRegistry.invoke`. Gateway errors use API Gateway's bodies and
`x-amzn-ErrorType` headers.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from relay.emulator import http, ids
from relay.emulator.fronts.invoking import InvokeOutcome, invoke_with_timeout
from relay.emulator.fronts.proxy_events import (
    ApiContext,
    MalformedResponse,
    event_v1,
    map_v1_response,
)
from relay.emulator.fronts.routing import best_match
from relay.emulator.fronts.stage_server import StageServer
from relay.emulator.functions import FunctionRegistry

log = logging.getLogger("relay.emulator")

#: API Gateway's maximum integration timeout for REST APIs (the default).
INTEGRATION_TIMEOUT = 29.0
#: Request templates that hand the body over unchanged (the common non-proxy case).
PASSTHROUGH_TEMPLATES = {"$input.json('$')", '$input.json("$")', "$input.body"}


@dataclass
class IntegrationResponse:
    status: str
    selection_pattern: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)  # method.response.header.X -> 'v'
    templates: dict[str, str] = field(default_factory=dict)


@dataclass
class Integration:
    type: str  # AWS_PROXY, AWS, MOCK (others are reported and answer 500)
    function: str | None = None  # the emulator's function name
    timeout: float = INTEGRATION_TIMEOUT
    request_templates: dict[str, str] = field(default_factory=dict)
    passthrough: str = "WHEN_NO_MATCH"
    responses: list[IntegrationResponse] = field(default_factory=list)


@dataclass
class Authorizer:
    name: str
    type: str  # TOKEN, REQUEST, COGNITO_USER_POOLS
    function: str | None = None  # None: reported, not enforced locally
    identity_sources: tuple[str, ...] = ("method.request.header.Authorization",)
    validation: str | None = None  # TOKEN: IdentityValidationExpression


@dataclass
class Method:
    http_method: str
    integration: Integration
    authorizer: Authorizer | None = None


@dataclass
class RestApiSpec:
    name: str
    stage: str
    resources: dict[str, dict[str, Method]]  # "/items/{id}" -> {"GET": Method}
    path: str = ""  # construct path
    stage_variables: dict[str, str] = field(default_factory=dict)
    binary_media_types: tuple[str, ...] = ()
    resource_ids: dict[str, str] = field(default_factory=dict)
    api_id: str = ""  # chosen at provisioning so Ref resolves before the API starts


def gateway_error(status: int, message: str | None, error_type: str) -> http.Response:
    return http.Response.json(
        status,
        {"message": message},
        [("x-amzn-ErrorType", error_type), ("x-amzn-RequestId", ids.request_id())],
    )


MISSING_TOKEN = ("Missing Authentication Token", "MissingAuthenticationTokenException")


def internal_error() -> http.Response:
    return gateway_error(502, "Internal server error", "InternalServerErrorException")


class RestApi(StageServer):
    """One REST API stage on its own port."""

    def __init__(
        self,
        spec: RestApiSpec,
        functions: FunctionRegistry,
        calls: Counter[str],
        *,
        region: str,
        account_id: str,
    ) -> None:
        super().__init__(
            spec.api_id, f"{spec.stage}/", functions, calls, region=region, account_id=account_id
        )
        self.spec = spec
        self._routes = [(path, methods) for path, methods in spec.resources.items()]

    async def handle(self, request: http.Request) -> http.Response:
        self.calls["RestApiRequest"] += 1
        prefix = f"/{self.spec.stage}"
        if request.path != prefix and not request.path.startswith(prefix + "/"):
            return gateway_error(403, "Forbidden", "ForbiddenException")
        path = request.path[len(prefix) :] or "/"
        match = best_match(self._routes, path)
        if match is None:
            return gateway_error(403, *MISSING_TOKEN)
        method = match.target.get(request.method) or match.target.get("ANY")
        if method is None:
            return gateway_error(403, *MISSING_TOKEN)
        context = ApiContext(
            api_id=self.api_id,
            stage=self.spec.stage,
            domain=self.domain,
            account_id=self.account_id,
            resource_id=self.spec.resource_ids.get(match.template, ""),
            resource_path=match.template,
            stage_variables=self.spec.stage_variables,
            path_parameters=match.parameters,
        )
        if method.authorizer is not None and method.authorizer.function is not None:
            denied, authorizer_context = await self._authorize(method, request, context, path)
            if denied is not None:
                return denied
            context = ApiContext(**{**context.__dict__, "authorizer": authorizer_context})
        integration = method.integration
        if integration.type == "AWS_PROXY":
            return await self._proxy(integration, request, context, path)
        if integration.type == "AWS":
            return await self._lambda_custom(integration, request)
        if integration.type == "MOCK":
            return self._mock(integration, request)
        log.warning(
            "emulator: %s integration of %s %s is not emulated",
            integration.type,
            request.method,
            match.template,
        )
        return gateway_error(500, "Internal server error", "InternalServerErrorException")

    # -- integrations ------------------------------------------------------------------

    async def _call(
        self,
        function: str | None,
        event: Any,
        timeout: float,  # noqa: ASYNC109
    ) -> InvokeOutcome:
        return await invoke_with_timeout(
            self.functions,
            function,
            json.dumps(event).encode(),
            timeout=timeout,
            where=f"REST API {self.spec.name}",
        )

    async def _proxy(
        self, integration: Integration, request: http.Request, context: ApiContext, path: str
    ) -> http.Response:
        event = event_v1(
            request, context, path=path, binary_media_types=self.spec.binary_media_types
        )
        outcome = await self._call(integration.function, event, integration.timeout)
        if outcome.timed_out:
            return gateway_error(504, "Endpoint request timed out", "IntegrationTimeout")
        result = outcome.result
        if result is None or result.function_error:
            return internal_error()
        try:
            return map_v1_response(
                result.payload,
                binary_media_types=self.spec.binary_media_types,
                accept=request.header("accept"),
            )
        except MalformedResponse as exc:
            log.warning(
                "emulator: REST API %s: malformed Lambda proxy response (%s); "
                "API Gateway answers 502",
                self.spec.name,
                exc,
            )
            return internal_error()

    async def _lambda_custom(
        self, integration: Integration, request: http.Request
    ) -> http.Response:
        content_type = (request.header("content-type") or "application/json").split(";")[0]
        template = integration.request_templates.get(content_type.strip().lower())
        no_match = template is None and bool(integration.request_templates)
        if no_match and integration.passthrough != "WHEN_NO_MATCH":
            return gateway_error(415, "Unsupported Media Type", "UnsupportedMediaTypeException")
        if template is not None and template.strip() not in PASSTHROUGH_TEMPLATES:
            log.warning(
                "emulator: REST API %s: request mapping template %r is not evaluated "
                "locally (only passthrough); the body is passed as is",
                self.spec.name,
                template[:80],
            )
        try:
            event = json.loads(request.body) if request.body else {}
        except ValueError:
            return gateway_error(
                400, "Could not parse request body into json", "BadRequestException"
            )
        outcome = await self._call(integration.function, event, integration.timeout)
        if outcome.timed_out:
            return gateway_error(504, "Endpoint request timed out", "IntegrationTimeout")
        result = outcome.result
        if result is None:
            return gateway_error(500, "Internal server error", "InternalServerErrorException")
        selector = ""
        if result.function_error:
            try:
                selector = str(json.loads(result.payload).get("errorMessage", ""))
            except (ValueError, AttributeError):
                selector = result.payload.decode(errors="replace")
        chosen = _select_response(
            integration.responses, selector, match_patterns=bool(result.function_error)
        )
        if chosen is None:
            return gateway_error(500, "Internal server error", "InternalServerErrorException")
        return _integration_response(chosen, result.payload)

    def _mock(
        self,
        integration: Integration,
        request: http.Request,  # noqa: ARG002
    ) -> http.Response:
        template = integration.request_templates.get("application/json", "")
        found = re.search(r"statusCode\"?\s*:\s*(\d{3})", template)
        selector = found.group(1) if found else "200"
        chosen = _select_response(integration.responses, selector, match_patterns=True)
        if chosen is None:
            return gateway_error(500, "Internal server error", "InternalServerErrorException")
        return _integration_response(chosen, b"")

    # -- authorizers -------------------------------------------------------------------

    def method_arn(self, method: str, path: str) -> str:
        return (
            f"arn:aws:execute-api:{self.region}:{self.account_id}:{self.api_id}/"
            f"{self.spec.stage}/{method}/{path.lstrip('/')}"
        )

    async def _authorize(
        self, method: Method, request: http.Request, context: ApiContext, path: str
    ) -> tuple[http.Response | None, dict[str, Any] | None]:
        authorizer = method.authorizer
        assert authorizer is not None
        unauthorized = gateway_error(401, "Unauthorized", "UnauthorizedException")
        arn = self.method_arn(request.method, path)
        values = [
            _identity_value(source, request, context) for source in authorizer.identity_sources
        ]
        if any(v is None or v == "" for v in values):
            return unauthorized, None
        if authorizer.type == "TOKEN":
            token = values[0] or ""
            if authorizer.validation and not re.fullmatch(authorizer.validation, token):
                return unauthorized, None
            event: dict[str, Any] = {"type": "TOKEN", "methodArn": arn, "authorizationToken": token}
        else:
            event = {
                "type": "REQUEST",
                "methodArn": arn,
                **event_v1(
                    request, context, path=path, binary_media_types=self.spec.binary_media_types
                ),
            }
            event.pop("body", None)
            event.pop("isBase64Encoded", None)
        started = time.monotonic()
        outcome = await self._call(authorizer.function, event, INTEGRATION_TIMEOUT)
        result = outcome.result
        config_error = gateway_error(500, None, "AuthorizerConfigurationException")
        if outcome.timed_out or result is None:
            return config_error, None
        if result.function_error:
            try:
                message = json.loads(result.payload).get("errorMessage")
            except (ValueError, AttributeError):
                message = None
            return (unauthorized if message == "Unauthorized" else config_error), None
        try:
            answer = json.loads(result.payload)
            principal = answer["principalId"]
            statements = answer["policyDocument"]["Statement"]
        except (ValueError, KeyError, TypeError):
            log.warning(
                "emulator: authorizer %s returned no principalId/policyDocument", authorizer.name
            )
            return config_error, None
        effect = _policy_effect(statements, arn)
        if effect != "Allow":
            message = "User is not authorized to access this resource"
            if effect == "Deny":
                message += " with an explicit deny"
            return gateway_error(403, message, "AccessDeniedException"), None
        extra = answer.get("context") or {}
        authorizer_context: dict[str, Any] = {
            **{k: v for k, v in extra.items() if isinstance(v, (str, int, float, bool))},
            "principalId": principal,
            "integrationLatency": int((time.monotonic() - started) * 1000),
        }
        return None, authorizer_context


def _identity_value(source: str, request: http.Request, context: ApiContext) -> str | None:
    source = source.strip()
    if source.startswith("method.request.header."):
        return request.header(source.removeprefix("method.request.header."))
    if source.startswith("method.request.querystring."):
        from urllib.parse import parse_qsl

        name = source.removeprefix("method.request.querystring.")
        values = [v for k, v in parse_qsl(request.query, keep_blank_values=True) if k == name]
        return values[-1] if values else None
    if source.startswith("stageVariables."):
        return (context.stage_variables or {}).get(source.removeprefix("stageVariables."))
    if source.startswith("context."):
        return source  # context values are always present locally
    return None


def _policy_effect(statements: Any, arn: str) -> str | None:
    """Deny wins over Allow; None when no statement covers `arn`."""
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for statement in statements or []:
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not any(fnmatch.fnmatchcase("execute-api:Invoke", a) for a in actions):
            continue
        if any(fnmatch.fnmatchcase(arn, r) for r in resources):
            if statement.get("Effect") == "Deny":
                return "Deny"
            if statement.get("Effect") == "Allow":
                allowed = True
    return "Allow" if allowed else None


def _select_response(
    responses: list[IntegrationResponse], selector: str, *, match_patterns: bool
) -> IntegrationResponse | None:
    """The integration response whose selectionPattern matches (a Lambda error's message,
    or a MOCK's status code); otherwise the default one (no pattern)."""
    default = None
    for response in responses:
        pattern = response.selection_pattern
        if not pattern:
            default = default or response
        elif match_patterns and re.fullmatch(pattern, selector, flags=re.DOTALL):
            return response
    return default


def _integration_response(response: IntegrationResponse, payload: bytes) -> http.Response:
    headers: list[tuple[str, str]] = []
    for name, value in response.parameters.items():
        if not name.startswith("method.response.header."):
            continue
        if len(value) >= 2 and value[0] == value[-1] == "'":
            headers.append((name.removeprefix("method.response.header."), value[1:-1]))
    template = response.templates.get("application/json")
    body = payload
    if template is not None and template.strip() not in PASSTHROUGH_TEMPLATES:
        body = template.encode() if "$" not in template and "#" not in template else b""
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return http.Response(int(response.status), body, headers)
