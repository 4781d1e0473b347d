"""relay/client/functions.py: an invocation's config, with the developer's own credentials
(``relay start --local-credentials``) resolved off the event loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

from blocking_credentials import DEADLINE, BlockingRefresh

from relay.client.credentials import CredentialCache
from relay.client.functions import FunctionConfigs
from relay.link import messages
from relay.runtime import FunctionConfig


def _invoke(n: int) -> messages.Invoke:
    role = messages.Credentials("ASIAROLE", "role-secret", "role-token")
    return messages.Invoke(
        id=f"i{n}", reply_to="s1", stage="alice", function_name="shop-alice-Orders",
        request_id=f"r{n}", deadline_ms=0, payload=b"{}", region="eu-west-1",
        environment={"TABLE": "orders"}, credentials=role,
    )  # fmt: skip


def test_local_credentials_replace_the_roles_without_blocking_the_loop(tmp_path: Path) -> None:
    refresh = BlockingRefresh("AKIADEVELOPER", "dev-secret", None)
    botocore_credentials = refresh.credentials()

    def developer() -> messages.Credentials:  # what relay's Connection resolves, blocking
        frozen = botocore_credentials.get_frozen_credentials()
        return messages.Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    base = FunctionConfig(name="shop-alice-Orders", handler="app.handler", code_dir=tmp_path)
    configured: list[FunctionConfig] = []
    configs = FunctionConfigs(
        "alice", {base.name: base}, configured.append, CredentialCache(developer).get
    )

    async def scenario() -> list[FunctionConfig]:
        both = asyncio.gather(configs.config_for(_invoke(1)), configs.config_for(_invoke(2)))
        await refresh.release_from_the_loop()
        return await asyncio.wait_for(both, DEADLINE)

    first, second = asyncio.run(scenario())
    assert first == second
    assert dict(first.environment) == {
        "TABLE": "orders",
        "AWS_ACCESS_KEY_ID": "AKIADEVELOPER",
        "AWS_SECRET_ACCESS_KEY": "dev-secret",
    }  # the role's session token is not mixed into the developer's keys
    assert first.region == "eu-west-1"
    assert configured == [first]  # two cold invocations at once configure the runtime once
    assert refresh.calls == 1
