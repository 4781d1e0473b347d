"""A small function written inline with `Code.from_inline`."""

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_

SOURCE = """
import os


def handler(event, context):
    return {"inline": True, "colour": os.environ["COLOUR"], "got": event}
"""


class InlineStack(cdk.Stack):
    def __init__(self, scope, id: str) -> None:
        super().__init__(scope, id)
        lambda_.Function(
            self,
            "Tiny",
            runtime=lambda_.Runtime.PYTHON_3_11,
            handler="index.handler",
            code=lambda_.Code.from_inline(SOURCE),
            environment={"COLOUR": "green"},
        )


app = cdk.App()
InlineStack(app, "inline")
app.synth()
