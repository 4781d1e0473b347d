"""The end-to-end tests' CDK app: an ordinary app that knows nothing of relay."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_

CODE = str(Path(__file__).parent / "functions" / "probe")


class ProbeStack(cdk.Stack):
    def __init__(self, scope: cdk.App, id: str, *, stage: str) -> None:
        super().__init__(scope, id)
        table = dynamodb.Table(
            self,
            "Notes",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )

        def function(name: str, handler: str, timeout: int = 10) -> lambda_.Function:
            fn = lambda_.Function(
                self,
                name,
                runtime=lambda_.Runtime.PYTHON_3_12,
                handler=handler,
                code=lambda_.Code.from_asset(CODE),
                timeout=cdk.Duration.seconds(timeout),
                memory_size=256,
                environment={"TABLE": table.table_name, "GREETING": f"hello from {stage}"},
            )
            table.grant_read_write_data(fn)
            return fn

        web = function("Web", "web.handler")
        web.add_function_url(auth_type=lambda_.FunctionUrlAuthType.NONE)
        function("Echo", "echo.handler")
        function("Sleepy", "echo.sleepy", timeout=2)


app = cdk.App()
stage = str(app.node.try_get_context("stage") or "dev")
ProbeStack(app, f"probe-{stage}", stage=stage)
app.synth()
