"""bench/peers.py's CDK app: the echo handler behind a function URL and an HTTP API route."""

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_lambda as lambda_


class BenchStack(cdk.Stack):
    def __init__(self, scope: cdk.App, id: str) -> None:
        super().__init__(scope, id)
        echo = lambda_.Function(
            self,
            "Echo",
            runtime=lambda_.Runtime.PYTHON_3_12,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(Path(__file__).parent / "functions" / "echo")),
            timeout=cdk.Duration.seconds(30),
            memory_size=512,
        )
        echo.add_function_url(auth_type=lambda_.FunctionUrlAuthType.NONE)
        api = apigwv2.HttpApi(self, "Api")
        api.add_routes(
            path="/echo",
            methods=[apigwv2.HttpMethod.GET],
            integration=integrations.HttpLambdaIntegration("EchoIntegration", echo),
        )


app = cdk.App()
BenchStack(app, "relay-bench")
app.synth()
