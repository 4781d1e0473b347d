"""A Node.js function, bundled with Docker (npm ci in the image), beside a Python one."""

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_


class MixedStack(cdk.Stack):
    def __init__(self, scope, id: str) -> None:
        super().__init__(scope, id)
        lambda_.Function(
            self,
            "Web",
            runtime=lambda_.Runtime.NODEJS_20_X,
            handler="index.handler",
            code=lambda_.Code.from_asset(
                "web",
                bundling=cdk.BundlingOptions(
                    image=lambda_.Runtime.NODEJS_20_X.bundling_image,
                    command=["bash", "-c", "cp -r /asset-input/* /asset-output/"],
                ),
            ),
        )
        lambda_.Function(
            self,
            "Worker",
            runtime=lambda_.Runtime.PYTHON_3_11,
            handler="worker.handler",
            code=lambda_.Code.from_asset("worker"),
        )


app = cdk.App()
MixedStack(app, "mixed")
app.synth()
