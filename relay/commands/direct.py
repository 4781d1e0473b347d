"""Direct mode of `relay start --local`: the embedded emulator runs in relay's own process and
its front doors hand each relayed function's invocations straight to the local runtime.

On the embedded default nothing is in the cloud, so the stub and the WebSocket hop only cost
time: one invocation through them crosses six processes and ~4.5 ms of CPU, directly it
crosses two and ~0.9 ms (docs/architecture.md, "Direct mode"). The handler still runs in the
same local runtime (hot reload, breakpoints) and the live view gets the same events as from
the relay client. `relay start --local --via-stub` keeps the full path.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable

from relay.observe.invocations import InvocationEvent, context_of, finished
from relay.runtime import FunctionConfig, InvocationResult, LocalRuntime

log = logging.getLogger("relay.commands.direct")

_CREDENTIAL_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def direct_config(
    config: FunctionConfig,
    environment: dict[str, str],
    *,
    local_credentials: tuple[str, str] | None = None,
) -> FunctionConfig:
    """The function as the stub would have relayed it: the original handler and code with
    the environment the emulator gives it (role credentials, service endpoints), without
    relay's own `RELAY_*` variables; `local_credentials` replaces the role's."""
    env = {k: v for k, v in environment.items() if not k.startswith("RELAY_")}
    if local_credentials is not None:
        for key in _CREDENTIAL_KEYS:
            env.pop(key, None)
        env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = local_credentials
    return dataclasses.replace(config, environment=env)


class DirectInvoker:
    """One relayed function's invocations, run by `runtime` and reported to `on_event`."""

    def __init__(
        self,
        runtime: LocalRuntime,
        config: FunctionConfig,
        on_event: Callable[[InvocationEvent], None] | None = None,
        function_path: str = "",
    ) -> None:
        self.runtime = runtime
        self.name = config.name
        self.on_event = on_event
        self.config = config
        self.function_path = function_path
        runtime.configure(config)

    async def __call__(
        self,
        payload: bytes,
        *,
        request_id: str | None = None,
        client_context: str | None = None,
        invoked_function_arn: str | None = None,
    ) -> InvocationResult:
        request_id = request_id or str(uuid.uuid4())
        self._emit(InvocationEvent(self.name, request_id, request_id, "running"))
        result = await self.runtime.invoke(
            self.name,
            payload,
            request_id=request_id,
            client_context=client_context,
            invoked_function_arn=invoked_function_arn,
        )
        context = context_of(
            self.config,
            function_path=self.function_path,
            invoked_function_arn=invoked_function_arn,
            client_context=client_context,
        )
        self._emit(finished(context, request_id, request_id, payload, result, source="direct"))
        return result

    def _emit(self, event: InvocationEvent) -> None:
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # a broken display must not fail the invocation
                log.exception("relay: the on_event callback failed")
