"""The functions this client serves: each one's local config, rebuilt only when what the stub
sent (environment, role credentials, region, memory) changed.

A rebuilt config retires the function's warm workers, so rotated role credentials alone are
swapped in at most every ``CREDENTIAL_REFRESH`` seconds (they stay valid for hours).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from relay.link import messages
from relay.runtime import FunctionConfig

#: Role credentials are swapped into running workers at most this often (a swap retires them).
CREDENTIAL_REFRESH = 30 * 60.0

_CREDENTIAL_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


@dataclass
class _Configured:
    config: FunctionConfig
    key: tuple[Any, ...] = ()  # what the stub sent, to skip rebuilding an unchanged config
    at: float = field(default_factory=time.monotonic)


class FunctionConfigs:
    """Looks up an invocation's function and keeps the runtime's config of it current."""

    def __init__(
        self,
        stage: str,
        functions: dict[str, FunctionConfig],
        configure: Callable[[FunctionConfig], None],
        local_credentials: Callable[[], Awaitable[messages.Credentials]] | None = None,
    ) -> None:
        """``local_credentials``: the developer's own credentials replace the role's."""
        self.stage = stage
        self.functions = functions  # shared with the client: `relay start` may update it
        self._configure = configure
        self._local_credentials = local_credentials
        self._configured: dict[str, _Configured] = {}

    async def config_for(self, invoke: messages.Invoke) -> FunctionConfig:
        """The function's config with the stub's environment and credentials (cached).

        Raises LookupError, with what to do, for a function this client does not know.
        """
        base = self.functions.get(invoke.function_name) or self.functions.get(invoke.function_path)
        if base is None:
            raise LookupError(
                f"`relay start` for stage {self.stage} does not know function "
                f"{invoke.function_name!r} ({invoke.function_path or 'no construct path'}); "
                "restart `relay start` so it picks up the app's functions"
            )
        key = (invoke.environment, invoke.credentials, invoke.region, invoke.memory_mb)
        current = self._configured.get(base.name)
        if current is not None and current.key == key:
            return current.config  # the warm path: nothing changed since the last invoke
        credentials = invoke.credentials
        if self._local_credentials is not None:
            credentials = await self._local_credentials()  # resolved off the loop
            current = self._configured.get(base.name)  # another invoke may have configured it
        environment = dict(invoke.environment)
        if credentials is not None:
            environment["AWS_ACCESS_KEY_ID"] = credentials.access_key_id
            environment["AWS_SECRET_ACCESS_KEY"] = credentials.secret_access_key
            if credentials.session_token:
                environment["AWS_SESSION_TOKEN"] = credentials.session_token
        wanted = dataclasses.replace(
            base,
            environment=environment,
            region=invoke.region or base.region,
            memory_mb=invoke.memory_mb or base.memory_mb,
        )
        if current is None or not _same_except_credentials(current.config, wanted):
            self._configure(wanted)
            self._configured[base.name] = _Configured(wanted, key)
        elif not current.config.same_as(wanted) and (
            time.monotonic() - current.at > CREDENTIAL_REFRESH
        ):
            self._configure(wanted)  # rotated role credentials, at most twice an hour
            self._configured[base.name] = _Configured(wanted, key)
        return self._configured[base.name].config


def _same_except_credentials(a: FunctionConfig, b: FunctionConfig) -> bool:
    def strip(config: FunctionConfig) -> FunctionConfig:
        env = {k: v for k, v in config.environment.items() if k not in _CREDENTIAL_KEYS}
        return dataclasses.replace(config, environment=env)

    return strip(a).same_as(strip(b))
