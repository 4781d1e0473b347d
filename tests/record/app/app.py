"""The record tests' CDK app: a small shop, written the way CDK users write apps."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_

CODE = str(Path(__file__).parent / "functions" / "shop")


class ShopStack(cdk.Stack):
    def __init__(self, scope: cdk.App, id: str, *, stage: str) -> None:
        super().__init__(scope, id)
        checkout = lambda_.Function(
            self,
            "Checkout",
            runtime=lambda_.Runtime.PYTHON_3_12,
            handler="checkout.handler",
            code=lambda_.Code.from_asset(CODE),
            timeout=cdk.Duration.seconds(10),
            environment={
                # planted: a recording must never hold it
                "PAYMENT_API_SECRET": "sk_live_planted_env_secret_8d1f",
                "CURRENCY": "EUR",
            },
        )
        checkout.add_function_url(auth_type=lambda_.FunctionUrlAuthType.NONE)
        lambda_.Function(
            self,
            "Charge",
            runtime=lambda_.Runtime.PYTHON_3_12,
            handler="charge.handler",
            code=lambda_.Code.from_asset(CODE),
            timeout=cdk.Duration.seconds(5),
            memory_size=256,
        )


app = cdk.App()
stage = str(app.node.try_get_context("stage") or "dev")
ShopStack(app, f"shop-{stage}", stage=stage)
app.synth()
