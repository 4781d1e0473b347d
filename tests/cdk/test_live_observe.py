"""The live Aspect in observe mode: each Python function keeps its code, handler timeout and
retries, gains the observe layer and runs ``relay_observe.handler`` around its own handler."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aws_cdk")

from aws_cdk.assertions import Match, Template
from cdk_support import TARGETS, synth_with, user_stack

from relay.cdk.live import LiveConfig
from relay.observe import HANDLER
from relay.observe.layer import build_observe_layer


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory, stub_dir: Path) -> dict[str, Any]:
    layer = build_observe_layer(tmp_path_factory.mktemp("observe-cache"))
    config = LiveConfig(
        stage="alice", stub_dir=str(stub_dir), targets=TARGETS, observe=0.1,
        observe_layer_dir=str(layer),
    )  # fmt: skip
    assert LiveConfig.from_json(config.to_json()) == config  # what the app's process gets
    outdir = tmp_path_factory.mktemp("live-observe")
    synth_with(outdir, user_stack, config)
    return {
        "template": json.loads((outdir / "shop-alice.template.json").read_text()),
        "record": json.loads((outdir / "relay-live.json").read_text()),
        "layer": layer,
    }


def test_functions_keep_their_code_and_run_the_wrapper(
    observed: dict[str, Any], live_app: dict[str, Any]
) -> None:
    template = Template.from_json(observed["template"])
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": HANDLER,
            "Timeout": 20,  # the function's own (no raise for a stub)
            "Layers": [
                {"Ref": Match.string_like_regexp("^Shared")},
                {"Ref": Match.string_like_regexp("^RelayObserveLayer")},
            ],
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "PLAIN": "kept",
                        "RELAY_ORIGINAL_HANDLER": "orders.handler",
                        "RELAY_OBSERVE_SAMPLE": "0.1",
                        "RELAY_WS_URL": TARGETS.websocket_url,
                    }
                )
            },
        },
    )
    template.resource_count_is("AWS::Lambda::LayerVersion", 2)  # the app's and relay's

    [orders] = [
        r for logical, r in observed["template"]["Resources"].items()
        if logical.startswith("Orders") and r["Type"] == "AWS::Lambda::Function"
    ]  # fmt: skip
    [stubbed] = [
        r for logical, r in live_app["template"]["Resources"].items()
        if logical.startswith("Orders") and r["Type"] == "AWS::Lambda::Function"
    ]  # fmt: skip
    # its own code asset, not the stub's
    assert orders["Properties"]["Code"]["S3Key"] != stubbed["Properties"]["Code"]["S3Key"]


def test_async_retries_stay_the_functions_own(observed: dict[str, Any]) -> None:
    configs = [
        r["Properties"]
        for r in observed["template"]["Resources"].values()
        if r["Type"] == "AWS::Lambda::EventInvokeConfig"
    ]
    assert {"MaximumRetryAttempts": 2}.items() <= configs[0].items()


def test_the_record_lists_them_as_observed(observed: dict[str, Any]) -> None:
    orders = next(f for f in observed["record"]["functions"] if f["path"] == "shop-alice/Orders")
    assert orders["relayed"] is True
    assert "RELAY_OBSERVE_SAMPLE" in orders["added_environment"]
    assert orders["handler"] == "orders.handler"
