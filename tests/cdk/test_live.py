"""The live Aspect on an ordinary user stack: what is swapped, kept, granted and recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk.assertions import Match, Template
from cdk_support import SAMPLE, TARGETS

RELAY_ENV = {
    "RELAY_STAGE": "alice",
    "RELAY_WS_URL": TARGETS.websocket_url,
    "RELAY_CONNECTIONS_ENDPOINT": TARGETS.connections_endpoint,
    "RELAY_BUCKET": TARGETS.bucket,
    "RELAY_REGION": "eu-west-1",  # the API's, for stacks in other regions too
}


def _function(template: dict[str, Any], prefix: str) -> dict[str, Any]:
    [resource] = [
        r
        for logical, r in template["Resources"].items()
        if logical.startswith(prefix) and r["Type"] == "AWS::Lambda::Function"
    ]
    return resource


def _stub_asset_key(live_app: dict[str, Any]) -> str:
    return _function(live_app["template"], "Orders")["Properties"]["Code"]["S3Key"]


def test_python_function_runs_the_stub_and_keeps_its_environment(live_app: dict) -> None:
    template = Template.from_json(live_app["template"])
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "stub.handler",
            "Runtime": "python3.12",
            "Timeout": 20,
            "MemorySize": 512,
            "Layers": [{"Ref": Match.string_like_regexp("^Shared")}],
            "Role": {"Fn::GetAtt": [Match.string_like_regexp("^OrdersServiceRole"), "Arn"]},
            "Environment": {
                "Variables": {
                    "TABLE": {"Ref": Match.string_like_regexp("^OrderTable")},
                    "PLAIN": "kept",
                    **RELAY_ENV,
                    "RELAY_FUNCTION_PATH": "shop-alice/Orders",
                    "RELAY_ORIGINAL_HANDLER": "orders.handler",
                }
            },
        },
    )


def test_every_python_function_shares_one_stub_asset(live_app: dict, stub_dir: Path) -> None:
    orders = _function(live_app["template"], "Orders")
    plain = _function(live_app["template"], "Plain")
    assert orders["Properties"]["Code"] == plain["Properties"]["Code"]
    asset_dir = live_app["outdir"] / orders["Metadata"]["aws:asset:path"]
    assert sorted(p.name for p in asset_dir.iterdir()) == sorted(p.name for p in stub_dir.iterdir())
    assert plain["Properties"]["Environment"]["Variables"]["ONLY"] == "one"
    assert plain["Properties"]["Handler"] == "stub.handler"


def test_node_function_is_untouched_and_listed(live_app: dict) -> None:
    audit = _function(live_app["template"], "Audit")["Properties"]
    assert audit["Handler"] == "index.handler"
    assert "ZipFile" in audit["Code"]
    assert "Environment" not in audit
    [record] = [f for f in live_app["record"]["functions"] if f["path"] == "shop-alice/Audit"]
    assert record["relayed"] is False
    assert record["reason"] == "runtime nodejs22.x: relay runs Python handlers only"


def test_permissions_are_scoped_to_the_stage_api_and_bucket(live_app: dict) -> None:
    api = f"{TARGETS.execute_api_arn}/alice"
    Template.from_json(live_app["template"]).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": Match.string_like_regexp("^OrdersServiceRole")}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Sid": "RelayConnect",
                            "Effect": "Allow",
                            "Action": "execute-api:Invoke",
                            "Resource": f"{api}/$connect",
                        },
                        {
                            "Sid": "RelayConnections",
                            "Effect": "Allow",
                            "Action": "execute-api:ManageConnections",
                            "Resource": f"{api}/POST/@connections/*",
                        },
                        {
                            "Sid": "RelayOverflow",
                            "Effect": "Allow",
                            "Action": ["s3:GetObject", "s3:PutObject"],
                            "Resource": f"arn:aws:s3:::{TARGETS.bucket}/*",
                        },
                    ]
                )
            },
        },
    )
    relay_statements = [
        s
        for r in live_app["template"]["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy"
        for s in r["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid", "").startswith("Relay")
    ]
    assert len(relay_statements) == 6  # three for each Python function, none for Node
    assert all("*" not in s["Action"] for s in relay_statements)


def test_async_retries_are_zero_existing_config_overridden(live_app: dict) -> None:
    template = Template.from_json(live_app["template"])
    template.resource_count_is("AWS::Lambda::EventInvokeConfig", 2)
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"FunctionName": {"Ref": Match.string_like_regexp("^Orders")}, "MaximumRetryAttempts": 0},
    )
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"FunctionName": {"Ref": Match.string_like_regexp("^Plain")}, "MaximumRetryAttempts": 0},
    )


def test_function_url_and_triggers_are_kept(live_app: dict) -> None:
    Template.from_json(live_app["template"]).has_resource_properties(
        "AWS::Lambda::Url",
        {
            "AuthType": "AWS_IAM",
            "TargetFunctionArn": {"Fn::GetAtt": [Match.string_like_regexp("^Orders"), "Arn"]},
        },
    )


def test_record_has_original_handler_source_dir_and_limits(live_app: dict) -> None:
    [orders] = [f for f in live_app["record"]["functions"] if f["path"] == "shop-alice/Orders"]
    assert orders == {
        "path": "shop-alice/Orders",
        "stack": "shop-alice",
        "logical_id": orders["logical_id"],
        "runtime": "python3.12",
        "relayed": True,
        "reason": None,
        "handler": "orders.handler",
        "code_dir": str((SAMPLE / "functions" / "orders").resolve()),
        "timeout": 20,
        "memory": 512,
        "layers": [orders["layers"][0]],
        "added_environment": sorted([*RELAY_ENV, "RELAY_FUNCTION_PATH", "RELAY_ORIGINAL_HANDLER"]),
        "warnings": [],
        "stack_path": "shop-alice",
        "nested": [],
        "template_file": None,
        "note": None,
    }
    assert orders["logical_id"].startswith("Orders")
    layers = live_app["record"]["layers"]
    assert layers[f"shop-alice/{orders['layers'][0]}"] == {
        "dir": str((SAMPLE / "layers" / "shared").resolve()),
        "python_root": False,
    }


def test_timeout_kept_by_default_raised_with_increase_timeout(
    live_app: dict, timeout_app: dict
) -> None:
    assert _function(live_app["template"], "Orders")["Properties"]["Timeout"] == 20
    assert "Timeout" not in _function(live_app["template"], "Plain")["Properties"]
    assert _function(timeout_app["template"], "Orders")["Properties"]["Timeout"] == 900
    assert _function(timeout_app["template"], "Plain")["Properties"]["Timeout"] == 900
    recorded = {f["path"]: f["timeout"] for f in timeout_app["record"]["functions"]}
    assert recorded == {"shop-alice/Orders": 20, "shop-alice/Plain": 3, "shop-alice/Audit": 3}
    assert "Timeout" not in _function(timeout_app["template"], "Audit")["Properties"]
