"""What a stubbed function needs in AWS, decided at synthesis (relay.cdk.live_fit), on a
stack written the way CDK users write one: SQS triggers, versions and aliases, imported
roles, permissions boundaries, VPCs and big environments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template
from cdk_support import SAMPLE, TARGETS, synth_with

from relay.cdk.live import LiveConfig

CODE = str(SAMPLE / "functions" / "orders")
IMPORTED_QUEUE = "arn:aws:sqs:eu-west-1:111122223333:shared-orders"


def _fn(scope: Any, name: str, seconds: int = 15, **kwargs: Any) -> lambda_.Function:
    return lambda_.Function(
        scope, name, runtime=lambda_.Runtime.PYTHON_3_12, handler="orders.handler",
        code=lambda_.Code.from_asset(CODE), timeout=cdk.Duration.seconds(seconds), **kwargs,
    )  # fmt: skip


def fit_stack(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "fit-alice")
    # SQS triggers: a queue of the stack (short visibility), and a queue shared by ARN.
    jobs = sqs.Queue(stack, "Jobs", visibility_timeout=cdk.Duration.seconds(5))
    _fn(stack, "Worker", seconds=3).add_event_source(sources.SqsEventSource(jobs))
    shared = sqs.Queue.from_queue_arn(stack, "Shared", IMPORTED_QUEUE)
    _fn(stack, "SharedWorker").add_event_source(sources.SqsEventSource(shared))
    # A version and aliases: async retries on the qualified function too.
    versioned = _fn(stack, "Versioned")
    live = lambda_.Alias(stack, "Live", alias_name="live", version=versioned.current_version)
    live.configure_async_invoke(retry_attempts=2)
    # Roles relay cannot grant to.
    locked = iam.Role.from_role_arn(
        stack, "Locked", "arn:aws:iam::111122223333:role/platform-locked", mutable=False
    )
    _fn(stack, "LockedRole", role=locked)
    s3_only = iam.ManagedPolicy(
        stack, "S3Only",
        statements=[iam.PolicyStatement(actions=["s3:*", "logs:*"], resources=["*"])],
    )  # fmt: skip
    _fn(stack, "Bounded", role=_role(stack, "BoundedRole", s3_only))
    external = iam.ManagedPolicy.from_managed_policy_name(stack, "OrgBoundary", "org-boundary")
    _fn(stack, "OrgBounded", role=_role(stack, "OrgBoundedRole", external))
    # Lambda's 4 KB: fits alone, not with relay's variables; and a function near nothing.
    _fn(stack, "BigEnv", environment={"CERT": "x" * 3800})
    # Subnets without a route out, and with a NAT gateway.
    isolated = ec2.Vpc(
        stack, "Isolated", max_azs=1, nat_gateways=0,
        subnet_configuration=[ec2.SubnetConfiguration(
            name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED
        )],
    )  # fmt: skip
    _fn(stack, "InIsolated", vpc=isolated)
    natted = ec2.Vpc(stack, "Natted", max_azs=1, nat_gateways=1)
    _fn(stack, "InNatted", vpc=natted)
    return stack


def _role(stack: cdk.Stack, name: str, boundary: iam.IManagedPolicy) -> iam.Role:
    return iam.Role(
        stack, name, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        permissions_boundary=boundary,
    )  # fmt: skip


def _synth(outdir: Path, stub_dir: Path, increase: bool) -> dict[str, Any]:
    config = LiveConfig(
        stage="alice", stub_dir=str(stub_dir), targets=TARGETS, increase_timeout=increase
    )
    synth_with(outdir, fit_stack, config)
    record = json.loads((outdir / "relay-live.json").read_text())
    return {
        "template": json.loads((outdir / "fit-alice.template.json").read_text()),
        "records": {f["path"].rsplit("/", 1)[1]: f for f in record["functions"]},
    }


@pytest.fixture(scope="module")
def fit(tmp_path_factory: pytest.TempPathFactory, stub_dir: Path) -> dict[str, Any]:
    return _synth(tmp_path_factory.mktemp("fit"), stub_dir, increase=False)


@pytest.fixture(scope="module")
def fit_increased(tmp_path_factory: pytest.TempPathFactory, stub_dir: Path) -> dict[str, Any]:
    return _synth(tmp_path_factory.mktemp("fit-increased"), stub_dir, increase=True)


def _props(template: dict[str, Any], prefix: str, kind: str = "AWS::Lambda::Function") -> dict:
    [resource] = [
        r for logical, r in template["Resources"].items()
        if logical.startswith(prefix) and r["Type"] == kind
    ]  # fmt: skip
    return resource["Properties"]


def test_a_queue_trigger_waits_as_long_as_the_increased_timeout(
    fit: dict, fit_increased: dict
) -> None:
    # --increase-timeout: Lambda refuses a queue whose visibility is below the function's.
    assert _props(fit_increased["template"], "Worker")["Timeout"] == 900
    queue = _props(fit_increased["template"], "Jobs", "AWS::SQS::Queue")
    assert queue["VisibilityTimeout"] == 900
    assert fit_increased["records"]["Worker"]["timeout"] == 3  # the handler's, run locally
    assert fit_increased["records"]["Worker"]["warnings"] == []
    # Without it both stay as the app has them (`relay deploy` restores them either way).
    assert _props(fit["template"], "Worker")["Timeout"] == 3
    assert _props(fit["template"], "Jobs", "AWS::SQS::Queue")["VisibilityTimeout"] == 5


def test_a_timeout_too_short_for_a_cold_stub_is_warned_about_once(fit: dict) -> None:
    assert fit["records"]["Worker"]["warnings"] == [
        "its timeout (3 s) leaves a cold stub little time to connect and find `relay start` "
        "(up to ~10 s): expect Lambda timeouts on cold starts; give it 10 s or more, or use "
        "`relay start --increase-timeout`"
    ]
    assert fit["records"]["Versioned"]["warnings"] == []  # 15 s


def test_a_queue_defined_elsewhere_caps_the_timeout_with_a_warning(fit_increased: dict) -> None:
    assert _props(fit_increased["template"], "SharedWorker")["Timeout"] == 15
    record = fit_increased["records"]["SharedWorker"]
    assert record["relayed"] is True
    assert record["warnings"] == [
        f"its timeout stays 15 s: its SQS queue {IMPORTED_QUEUE} is not defined in this stack, "
        "so relay cannot raise the queue's visibility timeout with the function's"
    ]


def test_versions_and_aliases_get_no_async_retries_either(fit: dict) -> None:
    template = Template.from_json(fit["template"])
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"FunctionName": {"Ref": Match.string_like_regexp("^Versioned")},
         "Qualifier": "$LATEST", "MaximumRetryAttempts": 0},
    )  # fmt: skip
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"Qualifier": {"Fn::GetAtt": [Match.string_like_regexp("^VersionedCurrentVersion"),
                                      "Version"]},
         "MaximumRetryAttempts": 0},
    )  # fmt: skip
    alias_arn = {"Ref": Match.string_like_regexp("^Live")}
    template.has_resource_properties(  # the alias had 2 retries of its own
        "AWS::Lambda::EventInvokeConfig",
        {"Qualifier": {"Fn::Select": [7, {"Fn::Split": [":", alias_arn]}]},
         "MaximumRetryAttempts": 0},
    )  # fmt: skip
    configs = [
        r["Properties"] for r in fit["template"]["Resources"].values()
        if r["Type"] == "AWS::Lambda::EventInvokeConfig"
    ]  # fmt: skip
    assert all(c["MaximumRetryAttempts"] == 0 for c in configs)


def test_an_immutable_imported_role_is_not_relayed_with_the_reason(fit: dict) -> None:
    record = fit["records"]["LockedRole"]
    assert record["relayed"] is False
    assert record["reason"] == (
        "its role platform-locked is imported as immutable, so relay cannot grant the stub "
        "execute-api:Invoke, execute-api:ManageConnections, s3:GetObject, s3:PutObject; "
        "import it with mutable=True or add these permissions to the role"
    )
    assert _props(fit["template"], "LockedRole")["Handler"] == "orders.handler"  # untouched


def test_a_boundary_that_blocks_the_stub_is_not_relayed(fit: dict) -> None:
    record = fit["records"]["Bounded"]
    assert record["relayed"] is False
    assert record["reason"] == (
        "its role's permissions boundary fit-alice/S3Only does not allow "
        "execute-api:Invoke, execute-api:ManageConnections, which the stub needs; allow them "
        "in the boundary"
    )
    assert _props(fit["template"], "Bounded")["Handler"] == "orders.handler"


def test_a_boundary_from_elsewhere_is_relayed_with_a_warning(fit: dict) -> None:
    record = fit["records"]["OrgBounded"]
    assert record["relayed"] is True
    [warning] = record["warnings"]
    assert warning.startswith("its role has the permissions boundary ")
    assert "org-boundary" in warning
    assert warning.endswith(
        "it must allow execute-api:Invoke, execute-api:ManageConnections, s3:GetObject, "
        "s3:PutObject, or the stub is refused with 403"
    )


def test_an_environment_over_4_kb_with_relays_variables_is_not_relayed(fit: dict) -> None:
    record = fit["records"]["BigEnv"]
    assert record["relayed"] is False
    assert record["reason"].startswith("its environment would be ")
    assert (
        "over Lambda's 4096-byte limit; move large values to SSM Parameter Store"
        in (record["reason"])
    )
    assert _props(fit["template"], "BigEnv")["Environment"]["Variables"] == {"CERT": "x" * 3800}


def test_subnets_without_a_route_out_are_warned_about(fit: dict) -> None:
    [warning] = fit["records"]["InIsolated"]["warnings"]
    assert warning.startswith("it runs in subnet(s) IsolateddataSubnet1Subnet")
    assert "with no route out (no NAT gateway)" in warning
    assert "execute-api interface endpoint does not help" in warning
    assert fit["records"]["InIsolated"]["relayed"] is True
    assert fit["records"]["InNatted"]["warnings"] == []


def test_stubs_sign_for_the_apis_region(fit: dict) -> None:
    variables = _props(fit["template"], "Worker")["Environment"]["Variables"]
    assert variables["RELAY_REGION"] == TARGETS.region == "eu-west-1"
