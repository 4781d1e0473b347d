"""What every API Gateway stage the emulator serves has: its own loopback port and URL, the
function registry it invokes through, and the emulator's call counter."""

from __future__ import annotations

from collections import Counter

from relay.emulator import http, ids
from relay.emulator.functions import FunctionRegistry


class StageServer:
    """Binds the port at construction (so the URL is known before start); subclasses answer
    requests in ``handle``."""

    def __init__(
        self,
        api_id: str | None,
        path_prefix: str,
        functions: FunctionRegistry,
        calls: Counter[str],
        *,
        region: str,
        account_id: str,
    ) -> None:
        self.functions = functions
        self.calls = calls
        self.region = region
        self.account_id = account_id
        self.api_id = api_id or ids.api_id()
        self._sock = http.bind()
        self.domain = f"127.0.0.1:{self._sock.getsockname()[1]}"
        self.url = f"http://{self.domain}/{path_prefix}"
        self._server: http.HttpServer | None = None

    async def handle(self, request: http.Request) -> http.Response:
        raise NotImplementedError

    async def start(self) -> None:
        self._server = await http.serve(self.handle, self._sock)

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()
