"""Apps and constants shared by the relay.cdk tests (importable: pytest puts this folder on
sys.path; a uniquely named module, unlike ``conftest``, which other test folders also have)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_

from relay.cdk.live import LiveConfig, LiveTargets

SAMPLE = Path(__file__).parent / "sample_app"
TARGETS = LiveTargets(
    websocket_url="wss://abc123.execute-api.eu-west-1.amazonaws.com/alice",
    connections_endpoint="https://abc123.execute-api.eu-west-1.amazonaws.com/alice",
    bucket="relay-alice-debug-overflow-xyz",
    execute_api_arn="arn:aws:execute-api:eu-west-1:111122223333:abc123",
    api_stage="alice",
)


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


def synth_with(
    outdir: Path, build: Callable[[cdk.App], Any], config: LiveConfig | None
) -> tuple[cdk.App, Any, Path]:
    from relay.cdk.live import enable

    app = new_app(outdir)
    built = build(app)
    aspect = enable(app, config) if config else None
    app.synth()
    return app, (built, aspect), outdir
