"""relay/cloud/aws_checks.py without an AWS account: identity, bootstrap, stage-dependent
names and one-line AWS errors, against moto's server (CloudFormation, SSM, STS) through
AWS_ENDPOINT_URL; a real account is covered by tests/live/.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from relay.cloud import aws_checks, cdk_cli, preflight, synth
from relay.cloud.assembly import Assembly

SAMPLE = Path(__file__).parent.parent / "cdk" / "sample_app"


def test_no_credentials_says_how_to_log_in(no_aws: None) -> None:
    with pytest.raises(cdk_cli.DeployError, match=r"no AWS credentials: run `aws configure`"):
        aws_checks.aws_identity()


def test_no_region_says_how_to_set_one(no_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(cdk_cli.DeployError, match=r"no AWS region configured: set AWS_REGION"):
        aws_checks.aws_identity()


def test_identity_against_moto(moto_aws: str) -> None:
    assert aws_checks.aws_identity() == ("123456789012", "eu-west-1")


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Assembly]:
    """The sample app with its own bootstrap qualifier, and an app whose stack names ignore
    the stage (one stack pinned to another region), each synthesized for two stages."""
    root = tmp_path_factory.mktemp("apps")
    qualified = root / "qualified"
    shutil.copytree(SAMPLE, qualified)
    cdk_json = json.loads((qualified / "cdk.json").read_text())
    cdk_json["context"]["@aws-cdk/core:bootstrapQualifier"] = "relaytst"
    (qualified / "cdk.json").write_text(json.dumps(cdk_json))
    fixed = root / "fixed"
    shutil.copytree(SAMPLE, fixed)
    source = (fixed / "app.py").read_text()
    source = source.replace(
        'stack = cdk.Stack(app, f"shop-{stage}")', 'stack = cdk.Stack(app, "shop")'
    )
    source = source.replace(
        "app.synth()",
        'cdk.Stack(app, f"edge-{stage}", env=cdk.Environment(region="us-west-2"))\napp.synth()',
    )
    (fixed / "app.py").write_text(source)
    env = {"CDK_DEFAULT_ACCOUNT": "123456789012", "CDK_DEFAULT_REGION": "eu-west-1"}

    def make(project: Path, stage: str) -> Assembly:
        out = project / ".relay" / "stages" / stage / "cdk.out.real"
        return synth.synthesize(project, stage, out_dir=out, env=env, validation=False)

    return {
        "qualified": make(qualified, "alice"),
        "qualified-probe": make(qualified, "relay-probe"),
        "fixed": make(fixed, "alice"),
        "fixed-probe": make(fixed, "relay-probe"),
        "fixed-dir": fixed,  # type: ignore[dict-item]
        "qualified-dir": qualified,  # type: ignore[dict-item]
    }


def test_bootstrap_is_checked_with_the_apps_qualifier(moto_aws: str, apps: dict) -> None:
    targets = preflight.stack_targets(apps["qualified"], "123456789012", "eu-west-1")
    assert [(t.name, t.region, t.bootstrap_parameter) for t in targets] == [
        ("shop-alice", "eu-west-1", "/cdk-bootstrap/relaytst/version")
    ]
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/cdk-bootstrap/hnb659fds/version", Value="27", Type="String")
    with pytest.raises(cdk_cli.DeployError) as err:  # the default qualifier is not the app's
        aws_checks.require_bootstrap(targets, "123456789012")
    assert str(err.value) == (
        "region eu-west-1 of account 123456789012 is not bootstrapped for the CDK with "
        "qualifier relaytst (stack shop-alice): run `npx cdk bootstrap "
        "aws://123456789012/eu-west-1 --qualifier relaytst` once, then run again."
    )
    ssm.put_parameter(Name="/cdk-bootstrap/relaytst/version", Value="27", Type="String")
    aws_checks.require_bootstrap(targets, "123456789012")  # bootstrapped now: no error


def test_each_stack_deploys_in_its_own_region(apps: dict) -> None:
    targets = preflight.stack_targets(apps["fixed"], "123456789012", "eu-west-1")
    assert sorted((t.name, t.region) for t in targets) == [
        ("edge-alice", "us-west-2"),
        ("shop", "eu-west-1"),
    ]


def test_an_app_whose_stack_names_ignore_the_stage_is_refused(apps: dict) -> None:
    assert preflight.shared_stack_names(apps["fixed"], apps["fixed-probe"]) == ["shop"]
    assert preflight.shared_stack_names(apps["qualified"], apps["qualified-probe"]) == []
    # An app that accepts only some stages cannot be synthesized for a probe stage: then each
    # stack's name must contain the stage.
    assert preflight.names_without_stage(apps["fixed"], "alice") == ["shop"]
    assert preflight.names_without_stage(apps["qualified"], "alice") == []
    env = {"CDK_DEFAULT_ACCOUNT": "123456789012", "CDK_DEFAULT_REGION": "eu-west-1"}
    with pytest.raises(cdk_cli.DeployError) as err:
        aws_checks.require_stage_dependent_names(apps["fixed-dir"], "alice", apps["fixed"], env)
    assert str(err.value) == (
        "the app's stack(s) shop do not depend on the stage: going live with stage alice would "
        "swap their functions for stubs for everyone using them (and `relay remove --all` "
        "would delete them). Name each stack after the stage, e.g. `stage = "
        'app.node.try_get_context("stage")` then `MyStack(app, f"my-service-{stage}")`, and '
        "run again."
    )
    aws_checks.require_stage_dependent_names(apps["qualified-dir"], "alice", apps["qualified"], env)


def test_aws_errors_are_one_clear_line(moto_aws: str) -> None:
    from botocore.stub import Stubber

    cloudformation = boto3.client("cloudformation")
    with Stubber(cloudformation) as stub:
        stub.add_client_error(
            "describe_stacks",
            service_error_code="AccessDenied",
            service_message="User: arn:aws:sts::1:assumed-role/Dev/bob is not authorized to "
            "perform: cloudformation:DescribeStacks",
            http_status_code=403,
        )
        with pytest.raises(cdk_cli.DeployError) as err, aws_checks.aws_errors("going live"):
            cloudformation.describe_stacks(StackName="relay-alice-debug")
    assert str(err.value) == (
        "your AWS identity may not DescribeStacks while going live: User: "
        "arn:aws:sts::1:assumed-role/Dev/bob is not authorized to perform: "
        "cloudformation:DescribeStacks Use a profile with that permission (AWS_PROFILE), or "
        "ask your administrator for it."
    )
    offline = boto3.client(
        "sts", endpoint_url="http://127.0.0.1:9", config=Config(retries={"max_attempts": 0})
    )
    with pytest.raises(cdk_cli.DeployError) as err, aws_checks.aws_errors("removing stage alice"):
        offline.get_caller_identity()
    assert str(err.value).startswith("cannot reach AWS while removing stage alice (")
    assert str(err.value).endswith("): check your network, proxy or VPN and run again.")


def test_debug_stack_outputs_read_from_cloudformation(moto_aws: str) -> None:
    assert aws_checks.stack_outputs("relay-nobody-debug", "eu-west-1") is None
    template = {
        "Resources": {"T": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"WebSocketUrl": {"Value": "wss://x.execute-api.eu-west-1.amazonaws.com/a"}},
    }
    boto3.client("cloudformation").create_stack(
        StackName="relay-a-debug", TemplateBody=json.dumps(template)
    )
    assert aws_checks.stack_outputs("relay-a-debug", "eu-west-1") == {
        "WebSocketUrl": "wss://x.execute-api.eu-west-1.amazonaws.com/a"
    }
