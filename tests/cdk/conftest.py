"""In-process CDK apps shared by the relay.cdk tests (importing aws_cdk costs ~4 s once).

Built-in CloudFormation validation is off (~4.3 s a synth here); cdk-nag runs where a test
asks for it and cfn-lint checks the templates.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

aws_cdk = pytest.importorskip("aws_cdk")

import aws_cdk as cdk  # noqa: E402
from aws_cdk import aws_dynamodb as dynamodb  # noqa: E402
from aws_cdk import aws_iam as iam  # noqa: E402
from aws_cdk import aws_lambda as lambda_  # noqa: E402
from cdk_support import SAMPLE, TARGETS  # noqa: E402

from relay.cdk.live import LiveConfig  # noqa: E402


def new_app(outdir: Path) -> cdk.App:
    return cdk.App(
        outdir=str(outdir),
        builtin_cloud_formation_validation=False,
        context={"aws:cdk:enable-asset-metadata": True},
    )


def user_stack(app: cdk.App) -> cdk.Stack:
    """A user's stack: Python function with layer, URL, retries, VPC-less role; a Node one."""
    stack = cdk.Stack(app, "shop-alice")
    table = dynamodb.Table(
        stack,
        "OrderTable",
        partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
    )
    layer = lambda_.LayerVersion(
        stack, "Shared", code=lambda_.Code.from_asset(str(SAMPLE / "layers" / "shared"))
    )
    orders = lambda_.Function(
        stack,
        "Orders",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="orders.handler",
        code=lambda_.Code.from_asset(str(SAMPLE / "functions" / "orders")),
        layers=[layer],
        timeout=cdk.Duration.seconds(20),
        memory_size=512,
        environment={"TABLE": table.table_name, "PLAIN": "kept"},
    )
    orders.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)
    orders.configure_async_invoke(retry_attempts=2)
    table.grant_read_write_data(orders)
    plain = lambda_.Function(
        stack,
        "Plain",
        runtime=lambda_.Runtime.PYTHON_3_11,
        handler="orders.handler",
        code=lambda_.Code.from_asset(str(SAMPLE / "functions" / "orders")),
        role=iam.Role(stack, "PlainRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com")),
    )
    plain.add_environment("ONLY", "one")
    lambda_.Function(
        stack,
        "Audit",
        runtime=lambda_.Runtime.NODEJS_22_X,
        handler="index.handler",
        code=lambda_.Code.from_inline("exports.handler = async () => 'ok';"),
    )
    return stack


@pytest.fixture(scope="session")
def stub_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real stub asset when it is built, else a folder with its two handlers."""
    try:
        from relay.cloud.stub_asset import build_stub_asset

        return build_stub_asset(tmp_path_factory.mktemp("stub-cache"))
    except ImportError:
        folder = tmp_path_factory.mktemp("stub")
        for name in ("stub.py", "connect.py"):
            (folder / name).write_text("def handler(event, context):\n    return None\n")
        return folder


def synth_with(
    outdir: Path, build: Callable[[cdk.App], Any], config: LiveConfig | None
) -> tuple[cdk.App, Any, Path]:
    from relay.cdk.live import enable

    app = new_app(outdir)
    built = build(app)
    aspect = enable(app, config) if config else None
    app.synth()
    return app, (built, aspect), outdir


@pytest.fixture(scope="session")
def live_app(tmp_path_factory: pytest.TempPathFactory, stub_dir: Path) -> dict[str, Any]:
    config = LiveConfig(stage="alice", stub_dir=str(stub_dir), targets=TARGETS)
    outdir = tmp_path_factory.mktemp("live")
    _, (stack, _aspect), _ = synth_with(outdir, user_stack, config)
    template = json.loads((outdir / "shop-alice.template.json").read_text())
    record = json.loads((outdir / "relay-live.json").read_text())
    return {"template": template, "record": record, "stack": stack, "outdir": outdir}


@pytest.fixture(scope="session")
def timeout_app(tmp_path_factory: pytest.TempPathFactory, stub_dir: Path) -> dict[str, Any]:
    config = LiveConfig(
        stage="alice", stub_dir=str(stub_dir), targets=TARGETS, increase_timeout=True
    )
    outdir = tmp_path_factory.mktemp("live-timeout")
    synth_with(outdir, user_stack, config)
    return {
        "template": json.loads((outdir / "shop-alice.template.json").read_text()),
        "record": json.loads((outdir / "relay-live.json").read_text()),
    }
