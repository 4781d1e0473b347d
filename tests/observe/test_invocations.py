"""The context an invocation's event carries: what the function's config says, per call's
ARN and client context, made again for a new config (a reload, a changed handler)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from relay.observe.invocations import InvocationContext, context_of
from relay.runtime import FunctionConfig


def test_a_context_says_what_the_config_and_the_call_say(tmp_path: Path) -> None:
    config = FunctionConfig(
        name="shop-Charge-1A2B", handler="charge.handler", code_dir=tmp_path, memory_mb=256
    )
    first = context_of(config, function_path="shop/Charge", invoked_function_arn=None)
    assert first == InvocationContext(
        function_name="shop-Charge-1A2B",
        invoked_function_arn=config.arn,
        memory_mb=256,
        timeout_s=3.0,
        region="us-east-1",
        log_group="/aws/lambda/shop-Charge-1A2B",
        function_path="shop/Charge",
        handler="charge.handler",
        code_dir=str(tmp_path.resolve()),
    )
    # the next invocation of the same function gets the same (frozen) context
    assert context_of(config, function_path="shop/Charge", invoked_function_arn=None) is first
    alias = f"{config.arn}:live"
    called = context_of(config, function_path="shop/Charge", invoked_function_arn=alias)
    assert called.invoked_function_arn == alias and called.client_context is None
    with_context = context_of(config, function_path="shop/Charge", client_context='{"a": 1}')
    assert with_context.client_context == '{"a": 1}'
    assert with_context.invoked_function_arn == config.arn


def test_a_new_config_gets_a_new_context(tmp_path: Path) -> None:
    config = FunctionConfig(name="shop-Charge-1A2B", handler="charge.handler", code_dir=tmp_path)
    before = context_of(config, function_path="shop/Charge")
    changed = dataclasses.replace(config, handler="charge.v2", timeout=10.0)
    after = context_of(changed, function_path="shop/Charge")
    assert (after.handler, after.timeout_s) == ("charge.v2", 10.0)
    assert (before.handler, before.timeout_s) == ("charge.handler", 3.0)


def test_a_field_that_cannot_be_a_key_still_makes_a_context(tmp_path: Path) -> None:
    config = FunctionConfig(name="f", handler="app.handler", code_dir=tmp_path)
    context = context_of(config, cognito_identity={"identityId": "eu-west-1:1"})  # a dict
    assert context.cognito_identity == {"identityId": "eu-west-1:1"}
