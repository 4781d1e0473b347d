"""The emulator's Lambda functions: name/ARN resolution, the environment Lambda would give
them (role credentials, region, endpoints of the emulated services) and per-function
concurrency, all running through one `LocalRuntime`.

Concurrency: Lambda starts one execution environment per concurrent invocation. Here each
function gets at most `concurrency` environments at once; callers above that wait in line
instead of being throttled, so a burst of 200 callers is served, just queued.

Direct routes: `relay start --local` hands a relayed function's invocations straight to its
own local runtime (`route`), so the stub and the WebSocket hop are skipped while every front
door (Invoke, function URLs, API Gateway) still goes through `invoke`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from relay.emulator.credentials import Credentials, CredentialStore

if TYPE_CHECKING:
    from relay.runtime import FunctionConfig, InvocationResult, LocalRuntime

DEFAULT_CONCURRENCY = 16

#: `route`'s target: (payload, request_id=, client_context=, invoked_function_arn=) -> result.
DirectInvoke = Callable[..., Awaitable["InvocationResult"]]


@dataclass(frozen=True)
class FunctionInfo:
    """What `Emulator.create_function` returns: how callers address the function."""

    name: str
    arn: str
    function_url: str | None = None


@dataclass
class Function:
    config: FunctionConfig
    arn: str
    role_credentials: Credentials
    slots: asyncio.Semaphore
    function_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.config.name

    def info(self) -> FunctionInfo:
        return FunctionInfo(self.name, self.arn, self.function_url)


class FunctionRegistry:
    """Function name → configuration, and the one door through which the emulator invokes."""

    def __init__(
        self,
        *,
        region: str,
        account_id: str,
        store: CredentialStore,
        service_env: Mapping[str, str],
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self.region = region
        self.account_id = account_id
        self.store = store
        self.service_env = dict(service_env)
        self.concurrency = concurrency
        self.runtime: LocalRuntime | None = None
        self._lock = threading.Lock()
        self._functions: dict[str, Function] = {}
        self._routes: dict[str, DirectInvoke] = {}

    def arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"

    def prepare(
        self, config: FunctionConfig, role_credentials: Credentials | None = None
    ) -> Function:
        """Register (or replace) a function and return it with the config the runtime runs.

        The runtime's environment gets temporary role credentials the emulator issued (or
        the given ones), the region, and the emulated service endpoints, which boto3 honours.
        """
        if role_credentials is None:
            role_credentials = self.store.issue(f"{config.name}-role", config.name)
        else:
            self.store.add(
                role_credentials,
                f"arn:aws:sts::{self.account_id}:assumed-role/{config.name}-role/{config.name}",
            )
        environment = {
            **dict(config.environment),
            **self.service_env,
            "AWS_ACCESS_KEY_ID": role_credentials.access_key,
            "AWS_SECRET_ACCESS_KEY": role_credentials.secret_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }
        if role_credentials.session_token:
            environment["AWS_SESSION_TOKEN"] = role_credentials.session_token
        else:
            environment.pop("AWS_SESSION_TOKEN", None)
        runtime_config = dataclasses.replace(
            config, environment=environment, region=self.region, account_id=self.account_id
        )
        with self._lock:
            previous = self._functions.get(config.name)
            function = Function(
                config=runtime_config,
                arn=self.arn(config.name),
                role_credentials=role_credentials,
                slots=previous.slots if previous else asyncio.Semaphore(self.concurrency),
                function_url=previous.function_url if previous else None,
            )
            self._functions[config.name] = function
        return function

    def resolve(self, name_or_arn: str) -> tuple[Function | None, str | None]:
        """Look up a name, a full ARN or a partial ARN (`123456789012:function:name`).

        Returns the function (or None) and the qualifier, if one was given in the ARN.
        """
        name, qualifier = name_or_arn, None
        if name.startswith("arn:"):
            parts = name.split(":")
            if len(parts) < 7 or parts[5] != "function":
                return None, None
            if parts[3] != self.region or parts[4] != self.account_id:
                return None, None
            name = parts[6]
            qualifier = parts[7] if len(parts) > 7 else None
        elif ":function:" in name:
            account, _, rest = name.partition(":function:")
            if account != self.account_id:
                return None, None
            name, _, qual = rest.partition(":")
            qualifier = qual or None
        elif ":" in name:
            name, _, qual = name.partition(":")
            qualifier = qual or None
        with self._lock:
            return self._functions.get(name), qualifier

    def get(self, name: str) -> Function | None:
        with self._lock:
            return self._functions.get(name)

    def all(self) -> list[Function]:
        with self._lock:
            return list(self._functions.values())

    def route(self, name: str, invoke: DirectInvoke | None) -> None:
        """Send `name`'s invocations to `invoke` (on the emulator's loop); None: run it here."""
        with self._lock:
            if invoke is None:
                self._routes.pop(name, None)
            else:
                self._routes[name] = invoke

    async def invoke(
        self,
        function: Function,
        payload: bytes,
        *,
        request_id: str | None = None,
        client_context: str | None = None,
    ) -> InvocationResult:
        """Run one invocation, waiting for a free execution environment if all are busy."""
        if self.runtime is None:
            raise RuntimeError("the emulator's runtime is not started")
        async with function.slots:
            direct = self._routes.get(function.name)
            if direct is not None:
                return await direct(
                    payload,
                    request_id=request_id,
                    client_context=client_context,
                    invoked_function_arn=function.arn,
                )
            return await self.runtime.invoke(
                function.name,
                payload,
                request_id=request_id,
                client_context=client_context,
                invoked_function_arn=function.arn,
            )
