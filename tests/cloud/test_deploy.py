"""relay/deploy.py without an AWS account: the pinned CLI, preconditions and clear errors.

AWS itself is moto's server (CloudFormation, SSM, STS) reached through AWS_ENDPOINT_URL;
deploying to a real account is covered by tests/live/.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from relay.cloud import deploy, preflight, synth
from relay.stage import StageError

REPO = Path(__file__).resolve().parents[2]
SAMPLE = Path(__file__).parent.parent / "cdk" / "sample_app"


@pytest.fixture
def no_aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer machine with no AWS configuration at all."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):  # fmt: skip
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "missing-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "missing-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")  # the CDK's variable; boto3 reads it via relay
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto_aws(no_aws: None, moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    return moto_url


def test_pinned_cli_is_found_in_relays_node_modules(tmp_path: Path) -> None:
    assert deploy.find_cdk_cli(tmp_path) == [str(REPO / "node_modules" / ".bin" / "cdk")]
    pinned = json.loads((REPO / "package.json").read_text())["devDependencies"]["aws-cdk"]
    assert deploy.pinned_cli_version() == pinned


def test_cli_override_and_the_apps_own_cli_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = tmp_path / "node_modules" / ".bin" / "cdk"
    own.parent.mkdir(parents=True)
    own.write_text("#!/bin/sh\n")
    assert deploy.find_cdk_cli(tmp_path) == [str(own)]
    monkeypatch.setenv("RELAY_CDK_CLI", "/opt/cdk/bin/cdk")
    assert deploy.find_cdk_cli(tmp_path) == ["/opt/cdk/bin/cdk"]


def test_known_toolkit_failures_get_the_fix() -> None:
    assert "aws sso login" in deploy.explain_cli_failure(
        "Error: The SSO session associated with this profile has expired"
    )
    assert "aws configure" in deploy.explain_cli_failure(
        "Unable to resolve AWS account to use. It must be either configured when you define"
    )
    assert "cdk bootstrap" in deploy.explain_cli_failure(
        "SSM parameter /cdk-bootstrap/hnb659fds/version not found. Has the environment been "
        "bootstrapped? Please run 'cdk bootstrap'"
    )
    assert deploy.explain_cli_failure("Template format error: unsupported structure") is None


def test_no_credentials_says_how_to_log_in(no_aws: None) -> None:
    with pytest.raises(deploy.DeployError, match=r"no AWS credentials: run `aws configure`"):
        deploy.aws_identity()


def test_no_region_says_how_to_set_one(no_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(deploy.DeployError, match=r"no AWS region configured: set AWS_REGION"):
        deploy.aws_identity()


def test_identity_against_moto(moto_aws: str) -> None:
    assert deploy.aws_identity() == ("123456789012", "eu-west-1")


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, synth.Assembly]:
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

    def make(project: Path, stage: str) -> synth.Assembly:
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
    with pytest.raises(deploy.DeployError) as err:  # the default qualifier is not the app's
        deploy.require_bootstrap(targets, "123456789012")
    assert str(err.value) == (
        "region eu-west-1 of account 123456789012 is not bootstrapped for the CDK with "
        "qualifier relaytst (stack shop-alice): run `npx cdk bootstrap "
        "aws://123456789012/eu-west-1 --qualifier relaytst` once, then run again."
    )
    ssm.put_parameter(Name="/cdk-bootstrap/relaytst/version", Value="27", Type="String")
    deploy.require_bootstrap(targets, "123456789012")  # bootstrapped now: no error


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
    with pytest.raises(deploy.DeployError) as err:
        deploy.require_stage_dependent_names(apps["fixed-dir"], "alice", apps["fixed"], env)
    assert str(err.value) == (
        "the app's stack(s) shop do not depend on the stage: going live with stage alice would "
        "swap their functions for stubs for everyone using them (and `relay remove --all` "
        "would delete them). Name each stack after the stage, e.g. `stage = "
        'app.node.try_get_context("stage")` then `MyStack(app, f"my-service-{stage}")`, and '
        "run again."
    )
    deploy.require_stage_dependent_names(apps["qualified-dir"], "alice", apps["qualified"], env)


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
        with pytest.raises(deploy.DeployError) as err, deploy.aws_errors("going live"):
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
    with pytest.raises(deploy.DeployError) as err, deploy.aws_errors("removing stage alice"):
        offline.get_caller_identity()
    assert str(err.value).startswith("cannot reach AWS while removing stage alice (")
    assert str(err.value).endswith("): check your network, proxy or VPN and run again.")


def test_the_debug_stack_records_who_runs_relay_start(moto_aws: str, tmp_path: Path) -> None:
    """Go-live records the caller's ARN (STS, here moto's) as the stage's only client."""
    project = tmp_path / "app"
    shutil.copytree(SAMPLE, project)
    account, region, principal = deploy.aws_caller()
    assert principal == "arn:aws:sts::123456789012:user/moto"
    assembly = deploy.synthesize_debug_stack("alice", project, account, region, principal)
    stack = assembly.stacks()["relay-alice-debug"]
    assert stack["environment"] == "aws://123456789012/eu-west-1"
    assert stack["template"]["Outputs"]["ClientPrincipal"]["Value"] == principal
    (handler,) = [
        r for r in stack["template"]["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"]["Handler"] == "connect.handler"
    ]  # fmt: skip
    assert handler["Properties"]["Environment"]["Variables"]["RELAY_CLIENT_PRINCIPAL"] == principal


def test_debug_stack_outputs_read_from_cloudformation(moto_aws: str) -> None:
    assert deploy.stack_outputs("relay-nobody-debug", "eu-west-1") is None
    template = {
        "Resources": {"T": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"WebSocketUrl": {"Value": "wss://x.execute-api.eu-west-1.amazonaws.com/a"}},
    }
    boto3.client("cloudformation").create_stack(
        StackName="relay-a-debug", TemplateBody=json.dumps(template)
    )
    assert deploy.stack_outputs("relay-a-debug", "eu-west-1") == {
        "WebSocketUrl": "wss://x.execute-api.eu-west-1.amazonaws.com/a"
    }


def test_invalid_stage_is_refused_before_any_aws_call(no_aws: None, tmp_path: Path) -> None:
    with pytest.raises(StageError, match="not a valid stage name"):
        deploy.go_live("Alice_1", tmp_path)


def test_synth_command_without_account_prints_assembly_last(
    no_aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "shop"
    shutil.copytree(SAMPLE, project)
    assert deploy.synth_command("alice", project) == 0
    out, err = capsys.readouterr()
    debug, folder = (Path(line) for line in out.strip().splitlines()[-2:])
    assert folder == project / ".relay" / "stages" / "alice" / "cdk.out.live"
    # everything relay deploys: the debug stack's assembly too, for review before going live
    assert debug == project / ".relay" / "stages" / "alice" / "cdk.out.debug"
    assert deploy.run_cdk(["ls", "--app", str(debug)], project).strip().splitlines()[-1] == (
        "relay-alice-debug"
    )
    assert "stubs point at placeholders" in err
    assert "not relayed: shop-alice/Audit (runtime nodejs22.x" in err
    # The pinned toolkit reads relay's assembly as it would for a deploy.
    listed = deploy.run_cdk(["ls", "--app", str(folder)], project)
    assert listed.strip().splitlines()[-1] == "shop-alice"


def test_toolkit_failure_raises_with_its_output(no_aws: None, tmp_path: Path) -> None:
    with pytest.raises(deploy.DeployError, match=r"`cdk ls --app` failed \(exit 1\)"):
        deploy.run_cdk(["ls", "--app", str(tmp_path / "no-such-assembly")], tmp_path)


def test_synth_errors_surface_from_the_command(
    no_aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert deploy.synth_command("alice", tmp_path) == 1
    assert "no cdk.json in" in capsys.readouterr().err
