"""Handlers that CloudFormation runs during the deployment: a custom resource provider, a
plain `CustomResource` on a function, a `triggers.Trigger` and a `TriggerFunction`."""

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import custom_resources as cr
from aws_cdk import triggers


class SeedStack(cdk.Stack):
    def __init__(self, scope, id: str) -> None:
        super().__init__(scope, id)
        code = lambda_.Code.from_asset("functions")

        def function(name: str, handler: str) -> lambda_.Function:
            return lambda_.Function(
                self, name, runtime=lambda_.Runtime.PYTHON_3_11, handler=handler, code=code
            )

        on_event = function("OnEvent", "provider.on_event")
        is_complete = function("IsComplete", "provider.is_complete")
        provider = cr.Provider(
            self, "Provider", on_event_handler=on_event, is_complete_handler=is_complete
        )
        cdk.CustomResource(self, "Seed", service_token=provider.service_token)

        direct = function("Direct", "provider.on_event")
        cdk.CustomResource(self, "DirectSeed", service_token=direct.function_arn)

        migrate = function("Migrate", "migrate.handler")
        triggers.Trigger(self, "RunMigrate", handler=migrate)
        triggers.TriggerFunction(
            self,
            "Warmup",
            runtime=lambda_.Runtime.PYTHON_3_11,
            handler="migrate.handler",
            code=code,
        )

        function("Api", "api.handler")


app = cdk.App()
SeedStack(app, "seed")
app.synth()
