"""Functions inside a `cdk.Stage` (dev/prod stages, CDK Pipelines)."""

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_


class ApiStack(cdk.Stack):
    def __init__(self, scope, id: str, *, greeting: str) -> None:
        super().__init__(scope, id)
        lambda_.Function(
            self,
            "Hello",
            runtime=lambda_.Runtime.PYTHON_3_11,
            handler="hello.handler",
            code=lambda_.Code.from_asset("functions"),
            environment={"GREETING": greeting},
        )


class ServiceStage(cdk.Stage):
    def __init__(self, scope, id: str, *, greeting: str) -> None:
        super().__init__(scope, id)
        ApiStack(self, "Api", greeting=greeting)


app = cdk.App()
ServiceStage(app, "Dev", greeting="hello from dev")
app.synth()
