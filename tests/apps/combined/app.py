"""The patterns together, as one team's app: a stage with a shared asset, a NestedStack, a
PythonFunction with its own requirements, a static site, a Node function and an image."""

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_python_alpha as python
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy


class Counters(cdk.NestedStack):
    def __init__(self, scope, id: str, *, table: dynamodb.Table) -> None:
        super().__init__(scope, id)
        # a Code object belongs to one stack (CDK says so): the same folder, its own asset
        counter = lambda_.Function(
            self,
            "Counter",
            runtime=lambda_.Runtime.PYTHON_3_11,
            handler="counter.handler",
            code=lambda_.Code.from_asset("src"),
            timeout=cdk.Duration.seconds(15),
            environment={"TABLE": table.table_name},
        )
        table.grant_read_write_data(counter)


class ShopStack(cdk.Stack):
    def __init__(self, scope, id: str) -> None:
        super().__init__(scope, id)
        table = dynamodb.Table(
            self,
            "Counts",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        )
        code = lambda_.Code.from_asset("src")
        for name, handler in (("Orders", "orders.handler"), ("Payments", "payments.handler")):
            lambda_.Function(
                self,
                name,
                runtime=lambda_.Runtime.PYTHON_3_11,
                handler=handler,
                code=code,
                environment={"SERVICE": name.lower()},
            )
        Counters(self, "Counters", table=table)

        layer = python.PythonLayerVersion(
            self, "Common", entry="layers/common", compatible_runtimes=[lambda_.Runtime.PYTHON_3_12]
        )
        python.PythonFunction(
            self,
            "Slugify",
            entry="functions/slug",
            index="main.py",
            handler="handle",
            runtime=lambda_.Runtime.PYTHON_3_12,
            layers=[layer],
        )

        site = s3.Bucket(self, "Site")
        s3deploy.BucketDeployment(
            self, "Upload", sources=[s3deploy.Source.asset("site")], destination_bucket=site
        )
        lambda_.Function(
            self,
            "Web",
            runtime=lambda_.Runtime.NODEJS_20_X,
            handler="index.handler",
            code=lambda_.Code.from_asset("web"),
        )
        lambda_.DockerImageFunction(
            self, "Report", code=lambda_.DockerImageCode.from_image_asset("image")
        )


class Shop(cdk.Stage):
    def __init__(self, scope, id: str) -> None:
        super().__init__(scope, id)
        ShopStack(self, "Shop")


app = cdk.App()
Shop(app, "Dev")
app.synth()
