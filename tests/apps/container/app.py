"""A Python function shipped as a container image (`DockerImageFunction`)."""

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_


class ImageStack(cdk.Stack):
    def __init__(self, scope, id: str) -> None:
        super().__init__(scope, id)
        lambda_.DockerImageFunction(
            self,
            "Report",
            code=lambda_.DockerImageCode.from_image_asset("image"),
        )


app = cdk.App()
ImageStack(app, "image")
app.synth()
