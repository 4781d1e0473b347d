"""The running emulator's control endpoint (loopback, token from the 0600 state file): what
`relay trigger` uses to fire a schedule rule now or move the emulator's clock forward."""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import parse_qsl, unquote

from relay.emulator import http
from relay.emulator.fronts.event_sources import EventSources, UnknownRule


class ControlApi:
    def __init__(self, sources: EventSources) -> None:
        self.sources = sources
        self.token = secrets.token_urlsafe(24)
        self._sock = http.bind()
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._server: http.HttpServer | None = None

    async def start(self) -> None:
        self._server = await http.serve(self.handle, self._sock)

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    async def handle(self, request: http.Request) -> http.Response:
        if not hmac.compare_digest(request.header("x-relay-token") or "", self.token):
            return http.Response.json(403, {"message": "wrong or missing X-Relay-Token"})
        parts = [unquote(p) for p in request.path.strip("/").split("/")]
        if request.method == "POST" and len(parts) == 3 and parts[::2] == ["rules", "trigger"]:
            try:
                rule = await self.sources.trigger(parts[1])
            except UnknownRule as exc:
                return http.Response.json(404, {"message": str(exc)})
            return http.Response.json(200, _rule(rule))
        if request.method == "POST" and parts == ["clock", "advance"]:
            seconds = float(dict(parse_qsl(request.query)).get("seconds", "0"))
            fired = await self.sources.advance(seconds)
            return http.Response.json(
                200, {"fired": [{"rule": name, "time": when.isoformat()} for name, when in fired]}
            )
        if request.method == "GET" and parts == ["rules"]:
            return http.Response.json(
                200, {"rules": [_rule(r) for r in self.sources.rules.values()]}
            )
        return http.Response.json(
            404, {"message": f"no control operation {request.method} {request.path}"}
        )


def _rule(rule: Any) -> dict[str, Any]:
    return {
        "name": rule.name,
        "path": rule.path,
        "schedule": rule.schedule.expression,
        "targets": [t.arn for t in rule.targets],
        "fired": rule.fired,
    }
