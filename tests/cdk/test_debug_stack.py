"""The per-stage debug stack: template shape, team customization, cfn-lint and cdk-nag."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks
from cdk_support import TARGETS, new_app, synth_with, user_stack
from cfnlint.api import ManualArgs, lint_file

from relay.cdk.debug_stack import DebugStack, RolePath, customize_from_context
from relay.cdk.live import LiveConfig

OWNER = "arn:aws:sts::123456789012:assumed-role/Developer/alice@example.com"


@pytest.fixture(scope="module")
def debug(tmp_path_factory: pytest.TempPathFactory, stub_dir: Path) -> dict[str, Any]:
    outdir = tmp_path_factory.mktemp("debug")
    app = new_app(outdir)
    DebugStack(app, stage="alice", stub_code=stub_dir, client_principal=OWNER)
    app.synth()
    path = outdir / "relay-alice-debug.template.json"
    return {"template": json.loads(path.read_text()), "path": path}


def test_websocket_api_with_iam_on_connect_and_three_routes(debug: dict) -> None:
    t = Template.from_json(debug["template"])
    t.has_resource_properties(
        "AWS::ApiGatewayV2::Api", {"ProtocolType": "WEBSOCKET", "Name": "relay-alice"}
    )
    t.has_resource_properties(
        "AWS::ApiGatewayV2::Route", {"RouteKey": "$connect", "AuthorizationType": "AWS_IAM"}
    )
    for key in ("$disconnect", "$default"):
        t.has_resource_properties("AWS::ApiGatewayV2::Route", {"RouteKey": key})
    t.resource_count_is("AWS::ApiGatewayV2::Route", 3)
    t.has_resource_properties(
        "AWS::ApiGatewayV2::Stage", {"StageName": "alice", "AutoDeploy": True}
    )
    uris = {
        json.dumps(r["Properties"]["IntegrationUri"])
        for r in debug["template"]["Resources"].values()
        if r["Type"] == "AWS::ApiGatewayV2::Integration"
    }
    assert len(uris) == 1 and "ConnectHandler" in next(iter(uris))  # all routes → one handler


def test_connect_handler_runs_stub_asset_with_table_and_endpoint(debug: dict) -> None:
    Template.from_json(debug["template"]).has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "connect.handler",
            "Runtime": "python3.14",
            "Environment": {
                "Variables": {
                    "RELAY_STAGE": "alice",
                    "RELAY_CLIENT_PRINCIPAL": OWNER,
                    "RELAY_TABLE": {"Ref": Match.string_like_regexp("^Connections")},
                    "RELAY_CONNECTIONS_ENDPOINT": {
                        "Fn::Join": [
                            "",
                            [
                                "https://",
                                {"Ref": Match.string_like_regexp("^Gateway")},
                                ".execute-api.",
                                {"Ref": "AWS::Region"},
                                ".",
                                {"Ref": "AWS::URLSuffix"},
                                "/alice",
                            ],
                        ]
                    },
                }
            },
        },
    )


def test_connect_handler_logs_go_to_a_log_group_removed_with_the_stack(debug: dict) -> None:
    t = Template.from_json(debug["template"])
    t.has_resource(
        "AWS::Logs::LogGroup",
        {"Properties": {"RetentionInDays": 7}, "DeletionPolicy": "Delete"},
    )
    t.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "connect.handler",
            "LoggingConfig": {"LogGroup": {"Ref": Match.string_like_regexp("^ConnectHandlerLogs")}},
        },
    )


def test_connection_table_on_demand_ttl_no_pitr_destroyed(debug: dict) -> None:
    t = Template.from_json(debug["template"])
    t.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": False},
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
            },
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
        },
    )


def test_overflow_bucket_private_encrypted_ssl_expiring_auto_deleted(debug: dict) -> None:
    t = Template.from_json(debug["template"])
    t.has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "LifecycleConfiguration": {
                    "Rules": [{"ExpirationInDays": 1, "Id": "expire-overflow", "Status": "Enabled"}]
                },
            },
            "DeletionPolicy": "Delete",
        },
    )
    t.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "s3:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )
    t.resource_count_is("Custom::S3AutoDeleteObjects", 1)


def test_outputs_name_every_endpoint(debug: dict) -> None:
    outputs = debug["template"]["Outputs"]
    assert set(outputs) == {
        "WebSocketUrl", "ConnectionsEndpoint", "ConnectionTable", "OverflowBucket", "ApiId",
        "ExecuteApiArn", "Region", "ClientPrincipal",
    }  # fmt: skip
    assert outputs["ClientPrincipal"]["Value"] == OWNER
    assert outputs["WebSocketUrl"]["Value"]["Fn::Join"][1][0] == "wss://"
    assert outputs["WebSocketUrl"]["Value"]["Fn::Join"][1][-1] == "/alice"


def test_the_client_principal_must_be_an_arn(tmp_path: Path, stub_dir: Path) -> None:
    with pytest.raises(ValueError, match="must be the ARN of the developer running relay start"):
        DebugStack(new_app(tmp_path), stage="x", stub_code=stub_dir, client_principal="")


def test_customize_adds_tags_boundary_and_role_path(tmp_path: Path, stub_dir: Path) -> None:
    app = new_app(tmp_path)
    hook = customize_from_context(
        {"tags": {"team": "payments"}, "permissionsBoundary": "dev-boundary", "rolePath": "/dev/"}
    )
    stack = DebugStack(app, stage="bob", stub_code=stub_dir, client_principal=OWNER, customize=hook)
    t = Template.from_stack(stack)
    roles = t.find_resources("AWS::IAM::Role")
    assert len(roles) == 2  # connect handler + auto-delete provider
    for role in roles.values():
        props = role["Properties"]
        assert props["Path"] == "/dev/"
        assert "dev-boundary" in json.dumps(props["PermissionsBoundary"])
    tagged = [r for r in roles.values() if "Tags" in r["Properties"]]
    assert [r["Properties"]["Tags"] for r in tagged] == [[{"Key": "team", "Value": "payments"}]]
    # Stack tags reach the rest (the custom resource provider's raw role) at deploy time.
    assert stack.tags.tag_values() == {"team": "payments"}
    t.has_resource_properties(
        "AWS::DynamoDB::Table", {"Tags": [{"Key": "team", "Value": "payments"}]}
    )


def test_customize_callable_sees_the_finished_stack(tmp_path: Path, stub_dir: Path) -> None:
    def team_rules(stack: cdk.Stack) -> None:
        iam.PermissionsBoundary.of(stack).apply(
            iam.ManagedPolicy.from_managed_policy_name(stack, "B", "org-boundary")
        )
        cdk.Aspects.of(stack).add(RolePath("/relay/"))

    stack = DebugStack(
        new_app(tmp_path),
        stage="carol",
        stub_code=stub_dir,
        client_principal=OWNER,
        customize=team_rules,
    )
    for role in Template.from_stack(stack).find_resources("AWS::IAM::Role").values():
        assert role["Properties"]["Path"] == "/relay/"
        assert "org-boundary" in json.dumps(role["Properties"]["PermissionsBoundary"])


def test_bad_customize_settings_say_what_is_known() -> None:
    with pytest.raises(ValueError, match=r"unknown relay settings .*'rolepath'.* known: tags"):
        customize_from_context({"rolepath": "/x/"})
    with pytest.raises(ValueError, match="must start and end with '/'"):
        RolePath("dev")


#: W3005 (a DependsOn also implied by a GetAtt) is emitted for aws-cdk-lib's own generated
#: custom resource provider (auto_delete_objects), not for anything relay writes.
LINT_IGNORED = ["W3005"]


def _lint(path: Path) -> list[str]:
    config = ManualArgs(regions=["us-east-1", "eu-west-1"], ignore_checks=LINT_IGNORED)
    matches = lint_file(path, config=config)
    return [f"{m.rule.id} {m.message} ({m.path})" for m in matches]


def test_cfn_lint_clean_debug_stack(debug: dict) -> None:
    assert _lint(debug["path"]) == []


def test_cfn_lint_clean_live_app(live_app: dict) -> None:
    assert _lint(live_app["outdir"] / "shop-alice.template.json") == []


def _nag_findings(outdir: Path) -> list[str]:
    report = json.loads((outdir / "validation-report.json").read_text())
    return sorted(
        f"{v['ruleName']} {c.get('constructPath')}"
        for plugin in report["pluginReports"]
        for v in plugin.get("violations", [])
        for c in v.get("violatingConstructs", v.get("violatingResources", []))
    )


def test_cdk_nag_aws_solutions_passes_on_debug_stack(tmp_path: Path, stub_dir: Path) -> None:
    app = new_app(tmp_path)
    DebugStack(app, stage="alice", stub_code=stub_dir, client_principal=OWNER)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()  # raises ValidationFailed on any unacknowledged finding
    assert _nag_findings(tmp_path) == []


def test_live_mode_adds_no_cdk_nag_findings(tmp_path: Path, stub_dir: Path) -> None:
    """The user's own findings stay theirs; relay's stub grants add none."""

    def with_nag(app: cdk.App) -> None:
        user_stack(app)
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))

    findings = {}
    for mode, config in (
        ("plain", None),
        ("live", LiveConfig(stage="alice", stub_dir=str(stub_dir), targets=TARGETS)),
    ):
        try:
            synth_with(tmp_path / mode, with_nag, config)
        except RuntimeError as exc:
            assert "ValidationFailed" in str(exc)
        findings[mode] = _nag_findings(tmp_path / mode)
    assert findings["plain"]  # the user's stack has findings of its own: the check ran
    new = set(findings["live"]) - set(findings["plain"])
    assert {f for f in new if "EventInvokeConfig" not in f} == set(), new
