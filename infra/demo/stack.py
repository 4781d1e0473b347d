"""The demo's resources: a greeting behind a function URL and an event processor.

Both write to one DynamoDB table, so a relayed run shows environment and IAM parity: the
local handler reaches the same table with the function's own role.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

FUNCTIONS = Path(__file__).parent / "functions"


class DemoStack(cdk.Stack):
    """Greeting (HTTP, function URL) and Visits (EventBridge events) over one table."""

    def __init__(self, scope: Construct, id: str, *, stage: str, **kwargs: object) -> None:
        super().__init__(scope, id, **kwargs)  # type: ignore[arg-type]
        self.table = dynamodb.Table(
            self,
            "VisitTable",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        common = {
            "runtime": lambda_.Runtime.PYTHON_3_12,
            "memory_size": 256,
            "timeout": cdk.Duration.seconds(10),
        }
        self.greeting = lambda_.Function(
            self,
            "Greeting",
            code=lambda_.Code.from_asset(str(FUNCTIONS / "greeting")),
            handler="app.handler",
            environment={
                "STAGE": stage,
                "TABLE_NAME": self.table.table_name,
            },
            **common,  # type: ignore[arg-type]
        )
        self.greeting_url = self.greeting.add_function_url(
            auth_type=lambda_.FunctionUrlAuthType.NONE
        )
        self.table.grant_read_write_data(self.greeting)

        self.visits = lambda_.Function(
            self,
            "RecordVisit",
            code=lambda_.Code.from_asset(str(FUNCTIONS / "visits")),
            handler="app.handler",
            environment={"TABLE_NAME": self.table.table_name, "TABLE_ARN": self.table.table_arn},
            **common,  # type: ignore[arg-type]
        )
        self.table.grant_write_data(self.visits)
        events.Rule(
            self,
            "VisitEvents",
            event_pattern=events.EventPattern(source=["relay.demo"], detail_type=["Visit"]),
            targets=[targets.LambdaFunction(self.visits)],
        )
        cdk.CfnOutput(self, "GreetingUrl", value=self.greeting_url.url)
        cdk.CfnOutput(self, "TableName", value=self.table.table_name)
