"""One `Code.from_asset("src")` shared by three functions, as most CDK apps write it."""

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_


class ShopStack(cdk.Stack):
    def __init__(self, scope: cdk.App, id: str) -> None:
        super().__init__(scope, id)
        code = lambda_.Code.from_asset("src")
        for name, handler in (
            ("Orders", "orders.handler"),
            ("Payments", "payments.handler"),
            ("Refunds", "refunds.handler"),
        ):
            lambda_.Function(
                self,
                name,
                runtime=lambda_.Runtime.PYTHON_3_11,
                handler=handler,
                code=code,
                environment={"SERVICE": name.lower()},
            )


app = cdk.App()
ShopStack(app, "shop")
app.synth()
