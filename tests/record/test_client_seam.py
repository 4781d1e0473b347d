"""The relay client's side of the observer seam: a relayed invocation (stub -> WebSocket ->
client -> local runtime) is published with what a recording needs and nothing secret."""

from __future__ import annotations

import json

from relay.record.recording import to_record
from relay.runtime import LocalRuntime
from tests.client.test_client import Stage, invoke, run, running_client
from tests.client.test_client import runtime as runtime
from tests.client.test_client import stage as stage


def test_relayed_invocation_carries_event_context_and_result_but_no_secrets(
    stage: Stage,
    runtime: LocalRuntime,
) -> None:
    async def scenario() -> None:
        async with runtime, running_client(stage, runtime) as live:
            reply, body = await invoke(stage, "slow", {"seconds": 0})
            assert "FunctionError" not in reply
            done = live.events[-1]
            assert (done.status, done.source, done.cold) == ("ok", "relay", True)
            assert json.loads(done.payload or b"") == {"seconds": 0}
            assert done.result == body
            context = done.context
            assert context is not None
            assert (context.function_name, context.function_path) == ("slow", "Demo/slow")
            assert (context.handler, context.timeout_s, context.memory_mb) == (
                "handlers.slow",
                30.0,
                128,
            )
            assert context.invoked_function_arn.endswith(":function:slow")
            assert context.log_group == "/aws/lambda/slow"

            recorded = json.dumps(to_record(done, "alice", []))
            environment = stage.emu.environment("slow")
            for secret in (
                environment["AWS_SECRET_ACCESS_KEY"],
                environment["AWS_ACCESS_KEY_ID"],
                environment["GREETING"],
            ):
                assert secret not in recorded

            _, warm = await invoke(stage, "slow", {"seconds": 0})
            assert live.events[-1].cold is False and live.events[-1].result == warm

    run(scenario())
