"""A function inside a `NestedStack`, using a table of its parent stack."""

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_


class Workers(cdk.NestedStack):
    def __init__(self, scope, id: str, *, table: dynamodb.Table) -> None:
        super().__init__(scope, id)
        fn = lambda_.Function(
            self,
            "Counter",
            runtime=lambda_.Runtime.PYTHON_3_11,
            handler="counter.handler",
            code=lambda_.Code.from_asset("functions"),
            timeout=cdk.Duration.seconds(15),
            environment={"TABLE": table.table_name, "MODE": "nested"},
        )
        table.grant_read_write_data(fn)


class MainStack(cdk.Stack):
    def __init__(self, scope, id: str) -> None:
        super().__init__(scope, id)
        table = dynamodb.Table(
            self,
            "Counts",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        )
        Workers(self, "Workers", table=table)


app = cdk.App()
MainStack(app, "main")
app.synth()
