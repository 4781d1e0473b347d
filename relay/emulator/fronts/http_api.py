"""API Gateway HTTP APIs (`HttpApi`): one loopback port per API; the `$default` stage is
served at `http://127.0.0.1:P/`, a named stage at `.../<stage>/`.

Routes are `METHOD /path` (methods incl. ANY, paths with `{param}` and greedy `{proxy+}`)
and `$default`; the most specific path wins, an exact method beats ANY. Lambda integrations
get payload 2.0 (or 1.0) and their answers are mapped back (2.0's simple format included).
CORS preflights are answered by the API itself, as API Gateway does when CORS is configured.
JWT and Lambda authorizers are reported at start and not enforced locally.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field

from relay.emulator import http, ids
from relay.emulator.fronts.invoking import invoke_with_timeout
from relay.emulator.fronts.proxy_events import (
    ApiContext,
    MalformedResponse,
    event_v1,
    event_v2,
    map_v1_response,
    map_v2_response,
)
from relay.emulator.fronts.routing import match_template
from relay.emulator.fronts.stage_server import StageServer
from relay.emulator.functions import FunctionRegistry

log = logging.getLogger("relay.emulator")

#: HTTP APIs' maximum (and default) integration timeout.
INTEGRATION_TIMEOUT = 30.0


@dataclass
class HttpRoute:
    key: str  # "GET /items/{id}", "ANY /{proxy+}" or "$default"
    function: str | None
    payload_version: str = "2.0"
    timeout: float = INTEGRATION_TIMEOUT

    @property
    def method(self) -> str:
        return "ANY" if self.key == "$default" else self.key.split(" ", 1)[0]

    @property
    def path(self) -> str:
        return "" if self.key == "$default" else self.key.split(" ", 1)[1]


@dataclass
class Cors:
    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False

    def origin_allowed(self, origin: str) -> str | None:
        """The Access-Control-Allow-Origin value for `origin`, or None."""
        if "*" in self.allow_origins:
            return "*" if not self.allow_credentials else origin
        return origin if origin in self.allow_origins else None


@dataclass
class HttpApiSpec:
    name: str
    routes: list[HttpRoute]
    stage: str = "$default"
    path: str = ""  # construct path
    cors: Cors | None = None
    stage_variables: dict[str, str] = field(default_factory=dict)
    api_id: str = ""


def _error(status: int, message: str) -> http.Response:
    return http.Response.json(
        status, {"message": message}, [("apigw-requestid", ids.gateway_request_id())]
    )


class HttpApi(StageServer):
    """One HTTP API stage on its own port."""

    def __init__(
        self,
        spec: HttpApiSpec,
        functions: FunctionRegistry,
        calls: Counter[str],
        *,
        region: str,
        account_id: str,
    ) -> None:
        super().__init__(
            spec.api_id,
            "" if spec.stage == "$default" else f"{spec.stage}/",
            functions,
            calls,
            region=region,
            account_id=account_id,
        )
        self.spec = spec

    def route(self, method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
        """The route for a request: most specific path; exact method before ANY; `$default`."""
        best: tuple[tuple[int, ...], HttpRoute, dict[str, str]] | None = None
        for route in self.spec.routes:
            if not route.path or route.method not in (method, "ANY"):
                continue
            found = match_template(route.path, path)
            if found is None:
                continue
            parameters, rank = found
            key = (*rank, 3, int(route.method == method))
            if best is None or key > best[0]:
                best = (key, route, parameters)
        if best is not None:
            return best[1], best[2]
        default = next((r for r in self.spec.routes if r.key == "$default"), None)
        return (default, {}) if default is not None else None

    async def handle(self, request: http.Request) -> http.Response:
        self.calls["HttpApiRequest"] += 1
        path = request.path
        if self.spec.stage != "$default":
            prefix = f"/{self.spec.stage}"
            if path != prefix and not path.startswith(prefix + "/"):
                return _error(404, "Not Found")
            path = path[len(prefix) :] or "/"
        cors = self.spec.cors
        origin = request.header("origin")
        if (
            cors is not None
            and request.method == "OPTIONS"
            and origin
            and request.header("access-control-request-method")
        ):
            return self._preflight(cors, origin, request)
        found = self.route(request.method, path)
        if found is None:
            return _error(404, "Not Found")
        route, parameters = found
        response = await self._integrate(route, parameters, request, path)
        if cors is not None and origin:
            allowed = cors.origin_allowed(origin)
            if allowed is not None:
                response.headers.append(("Access-Control-Allow-Origin", allowed))
                if cors.allow_credentials:
                    response.headers.append(("Access-Control-Allow-Credentials", "true"))
                if cors.expose_headers:
                    response.headers.append(
                        ("Access-Control-Expose-Headers", ",".join(cors.expose_headers))
                    )
        return response

    def _preflight(
        self,
        cors: Cors,
        origin: str,
        request: http.Request,  # noqa: ARG002
    ) -> http.Response:
        allowed = cors.origin_allowed(origin)
        if allowed is None:
            return http.Response(204)
        headers = [("Access-Control-Allow-Origin", allowed)]
        if cors.allow_methods:
            headers.append(("Access-Control-Allow-Methods", ",".join(cors.allow_methods)))
        if cors.allow_headers:
            headers.append(("Access-Control-Allow-Headers", ",".join(cors.allow_headers)))
        if cors.max_age is not None:
            headers.append(("Access-Control-Max-Age", str(cors.max_age)))
        if cors.allow_credentials:
            headers.append(("Access-Control-Allow-Credentials", "true"))
        return http.Response(204, b"", headers)

    async def _integrate(
        self, route: HttpRoute, parameters: dict[str, str], request: http.Request, path: str
    ) -> http.Response:
        context = ApiContext(
            api_id=self.api_id,
            stage=self.spec.stage,
            domain=self.domain,
            account_id=self.account_id,
            resource_path=route.path or "$default",
            route_key=route.key,
            stage_variables=self.spec.stage_variables,
            path_parameters=parameters,
        )
        if route.payload_version == "1.0":
            event = event_v1(request, context, path=path, http_api=True)
        else:
            event = event_v2(request, context, path=path)
        outcome = await invoke_with_timeout(
            self.functions,
            route.function,
            json.dumps(event).encode(),
            timeout=route.timeout,
            where=f"HTTP API {self.spec.name} route {route.key}",
        )
        if outcome.timed_out:
            return _error(503, "Service Unavailable")
        result = outcome.result
        if result is None or result.function_error:
            return _error(500, "Internal Server Error")
        try:
            if route.payload_version == "1.0":
                return map_v1_response(result.payload)
            return map_v2_response(result.payload)
        except MalformedResponse as exc:
            log.warning(
                "emulator: HTTP API %s: malformed Lambda response (%s)", self.spec.name, exc
            )
            return _error(500, "Internal Server Error")
