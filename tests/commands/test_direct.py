"""Direct mode's pieces: the emulator's front doors handing a function's invocations to a
local runtime (`Emulator.route` + `DirectInvoker`), and the config the runtime gets."""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.request
from pathlib import Path

import boto3

from relay.client import InvocationEvent
from relay.commands.direct import DirectInvoker, direct_config
from relay.emulator import Emulator
from relay.runtime import FunctionConfig, LocalRuntime

FIXTURES = Path(__file__).parents[1] / "emulator" / "fixtures"


def test_direct_config_keeps_the_emulators_environment_without_relays_own() -> None:
    original = FunctionConfig(name="f", handler="app.handler", code_dir=FIXTURES, memory_mb=256)
    environment = {
        "TABLE": "notes",
        "RELAY_STAGE": "alice",
        "RELAY_ORIGINAL_HANDLER": "app.handler",
        "AWS_ACCESS_KEY_ID": "ASIAROLE",
        "AWS_SECRET_ACCESS_KEY": "role-secret",
        "AWS_SESSION_TOKEN": "role-token",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    config = direct_config(original, environment)
    assert dict(config.environment) == {
        "TABLE": "notes",
        "AWS_ACCESS_KEY_ID": "ASIAROLE",
        "AWS_SECRET_ACCESS_KEY": "role-secret",
        "AWS_SESSION_TOKEN": "role-token",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    assert (config.handler, config.memory_mb) == ("app.handler", 256)
    mine = direct_config(original, environment, local_credentials=("dev-key", "dev-secret"))
    assert dict(mine.environment) == {
        "TABLE": "notes",
        "AWS_ACCESS_KEY_ID": "dev-key",
        "AWS_SECRET_ACCESS_KEY": "dev-secret",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _invoke(emulator: Emulator, name: str, event: object) -> tuple[object, str | None]:
    lam = boto3.client(
        "lambda",
        endpoint_url=emulator.lambda_endpoint,
        region_name=emulator.region,
        **emulator.credentials.boto3_kwargs(),
    )
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    return json.loads(response["Payload"].read()), response.get("FunctionError")


def test_front_doors_hand_invocations_to_the_routed_runtime_and_report_events() -> None:
    events: list[InvocationEvent] = []

    async def scenario() -> None:
        async with Emulator(moto=False) as emulator, LocalRuntime(watch=False) as runtime:
            # In the emulator the function's handler does not exist (like the stub, it is
            # not what runs): only the routed runtime can answer.
            emulator.create_function(
                FunctionConfig(name="web", handler="handlers.missing", code_dir=FIXTURES),
                url=True,
            )
            emulator.create_function(
                FunctionConfig(name="job", handler="handlers.missing", code_dir=FIXTURES)
            )
            url = next(f.function_url for f in emulator.functions if f.name == "web")
            for name, handler in (("web", "url_echo"), ("job", "fail")):
                config = direct_config(
                    FunctionConfig(name=name, handler=f"handlers.{handler}", code_dir=FIXTURES),
                    emulator.environment(name),
                )
                emulator.route(name, DirectInvoker(runtime, config, events.append))

            status, body = await asyncio.to_thread(_get, url.rstrip("/") + "/a?b=1")
            assert status == 200
            assert (body["rawPath"], body["rawQueryString"]) == ("/a", "b=1")

            result, error = await asyncio.to_thread(_invoke, emulator, "job", {"why": "direct"})
            assert error == "Unhandled"
            assert isinstance(result, dict)
            assert (result["errorType"], result["errorMessage"]) == (
                "ValueError",
                "bad input: direct",
            )

            emulator.route("job", None)  # back to the emulator's own runtime
            result, error = await asyncio.to_thread(_invoke, emulator, "job", {})
            assert error == "Unhandled"
            assert isinstance(result, dict)
            assert result["errorType"] == "Runtime.HandlerNotFound"

    asyncio.run(scenario())
    assert [(e.function, e.status) for e in events] == [
        ("web", "running"),
        ("web", "ok"),
        ("job", "running"),
        ("job", "error"),
    ]
    assert events[0].request_id == events[1].request_id
    assert (events[3].error_type, events[3].error_message) == ("ValueError", "bad input: direct")
    assert "about to fail" in events[3].logs


def test_each_event_carries_the_context_its_invocation_had() -> None:
    """The front doors' usual call (the function's own ARN, no client context) and an Invoke
    with a ClientContext each get the context `context_of` gives for them."""
    from relay.observe.invocations import context_of

    events: list[InvocationEvent] = []

    async def scenario() -> tuple[FunctionConfig, str]:
        async with Emulator(moto=False) as emulator, LocalRuntime(watch=False) as runtime:
            own = {"region": emulator.region, "account_id": emulator.account_id}
            info = emulator.create_function(
                FunctionConfig(name="web", handler="handlers.missing", code_dir=FIXTURES, **own),
                url=True,
            )
            config = direct_config(
                FunctionConfig(name="web", handler="handlers.url_echo", code_dir=FIXTURES, **own),
                emulator.environment("web"),
            )
            emulator.route("web", DirectInvoker(runtime, config, events.append, "app/Web"))
            assert info.function_url is not None
            for path in ("/one", "/two"):
                status, _ = await asyncio.to_thread(_get, info.function_url.rstrip("/") + path)
                assert status == 200
            lam = boto3.client(
                "lambda",
                endpoint_url=emulator.lambda_endpoint,
                region_name=emulator.region,
                **emulator.credentials.boto3_kwargs(),
            )
            custom = base64.b64encode(b'{"custom": {"k": "v"}}').decode()
            await asyncio.to_thread(
                lam.invoke, FunctionName="web", Payload=b"{}", ClientContext=custom
            )
            return config, info.arn

    config, arn = asyncio.run(scenario())
    finished = [e for e in events if e.finished]
    assert len(finished) == 3
    usual = context_of(config, function_path="app/Web", invoked_function_arn=arn)
    assert usual.invoked_function_arn == arn and usual.client_context is None
    assert [e.context for e in finished[:2]] == [usual, usual]
    assert finished[2].context == context_of(
        config,
        function_path="app/Web",
        invoked_function_arn=arn,
        client_context='{"custom": {"k": "v"}}',
    )
