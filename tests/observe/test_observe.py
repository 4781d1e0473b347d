"""Observe mode on the emulator: the real code (wrapped by relay_observe) answers every call;
a copy reaches the relay client, which runs it locally and reports where the answers differ.
No client connected: the wrapped function answers exactly as the real code alone."""

from __future__ import annotations

import asyncio
import json
import textwrap
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from relay.client import RelayClient
from relay.observe import HANDLER
from relay.observe.invocations import InvocationEvent
from relay.observe.layer import build_observe_layer
from relay.runtime import FunctionConfig, LocalRuntime
from relay.ui.console.state import observed_differences
from tests.client.test_client import REGION, STAGE, Stage, invoke, run
from tests.client.test_client import runtime as runtime
from tests.client.test_client import stage as stage

PRICING = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("cannot price " + str(event["fail"]))
    total = sum(item["qty"] * item["price"] for item in event["items"])
    return {"total": total, "currency": "%s"}
"""


def _code(folder: Path, currency: str) -> Path:
    folder.mkdir()
    (folder / "pricing.py").write_text(textwrap.dedent(PRICING % currency))
    return folder


@pytest.fixture(scope="module")
def observed(stage: Stage, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """'observed' runs the cloud's code (EUR) wrapped; the laptop's copy says USD."""
    root = tmp_path_factory.mktemp("observe")
    layer = build_observe_layer(root / "cache")
    cloud = _code(root / "cloud", "EUR")
    local = _code(root / "local", "USD")  # the planted difference
    stage.emu.create_function(
        FunctionConfig(
            name="observed",
            handler=HANDLER,
            code_dir=cloud,
            layers=(layer,),
            timeout=10,
            environment={
                "RELAY_STAGE": STAGE,
                "RELAY_WS_URL": stage.websocket_url,
                "RELAY_CONNECTIONS_ENDPOINT": stage.connections_endpoint,
                "RELAY_BUCKET": stage.bucket,
                "RELAY_FUNCTION_PATH": "Shop/Pricing",
                "RELAY_ORIGINAL_HANDLER": "pricing.handler",
                "RELAY_OBSERVE_SAMPLE": "1",
            },
        )
    )
    return {"local": FunctionConfig(name="observed", handler="pricing.handler", code_dir=local)}


@asynccontextmanager
async def client_for(
    stage: Stage, runtime: LocalRuntime, local: FunctionConfig
) -> AsyncIterator[list[InvocationEvent]]:
    events: list[InvocationEvent] = []
    ready = asyncio.Event()
    client = RelayClient(
        stage=STAGE,
        websocket_url=stage.websocket_url,
        connections_endpoint=stage.connections_endpoint,
        session=stage.session(),
        runtime=runtime,
        functions={"observed": local},
        region=REGION,
        s3_endpoint=stage.emu.endpoints["s3"],
        on_event=events.append,
        on_connected=lambda _id: ready.set(),
    )
    task = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(ready.wait(), 30)
        yield events
    finally:
        await client.stop()
        await asyncio.wait_for(task, 30)


async def _observation(events: list[InvocationEvent], request_id: str) -> InvocationEvent:
    async with asyncio.timeout(20):
        while True:
            for event in events:
                if event.source == "observe" and event.request_id == request_id:
                    return event
            await asyncio.sleep(0.01)


def test_a_planted_difference_is_reported(
    stage: Stage, runtime: LocalRuntime, observed: dict[str, Any]
) -> None:
    async def scenario() -> None:
        async with runtime, client_for(stage, runtime, observed["local"]) as events:
            basket = {"items": [{"qty": 2, "price": 5}]}
            reply, body = await invoke(stage, "observed", basket)
            assert "FunctionError" not in reply
            assert json.loads(body) == {"total": 10, "currency": "EUR"}  # the cloud answered
            seen = await _observation(events, reply["ResponseMetadata"]["RequestId"])
            assert seen.status == "ok" and seen.cloud_error is False
            assert json.loads(seen.result or b"") == {"total": 10, "currency": "USD"}
            assert json.loads(seen.cloud_result or b"") == {"total": 10, "currency": "EUR"}
            assert json.loads(seen.payload or b"") == basket
            assert seen.context is not None and seen.context.function_path == "Shop/Pricing"
            assert observed_differences(seen) == ['currency: "EUR" != "USD"']

            # the cloud fails, and so does the local copy the same way: no difference
            reply, body = await invoke(stage, "observed", {"fail": "x", "items": []})
            assert reply["FunctionError"] == "Unhandled"
            assert json.loads(body)["errorMessage"] == "cannot price x"
            seen = await _observation(events, reply["ResponseMetadata"]["RequestId"])
            assert seen.status == "error" and seen.cloud_error is True
            assert observed_differences(seen) == []

    run(scenario())


def test_without_a_client_the_real_code_answers_unchanged(
    stage: Stage, observed: dict[str, Any]
) -> None:
    started = time.monotonic()
    for n in range(5):
        reply, body = asyncio.run(invoke(stage, "observed", {"items": [{"qty": n, "price": 3}]}))
        assert "FunctionError" not in reply
        assert json.loads(body) == {"total": 3 * n, "currency": "EUR"}
    # (how much time the wrapper adds is measured in bench/bench_observe.py, not here)
    assert time.monotonic() - started < 60  # a deadline, not a speed claim
    reply, body = asyncio.run(invoke(stage, "observed", {"fail": "y"}))
    error = json.loads(body)
    assert reply["FunctionError"] == "Unhandled"
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "cannot price y")
    # the real code's own frames (after the wrapper's one call frame)
    assert "relay_observe.py" in error["stackTrace"][0]
    assert any("pricing.py" in line and "cannot price" in line for line in error["stackTrace"])
