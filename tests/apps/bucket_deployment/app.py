"""A static site uploaded with `BucketDeployment` (CDK's own Python handler) next to an API."""

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy


class SiteStack(cdk.Stack):
    def __init__(self, scope, id: str) -> None:
        super().__init__(scope, id)
        bucket = s3.Bucket(self, "Site")
        s3deploy.BucketDeployment(
            self, "Upload", sources=[s3deploy.Source.asset("site")], destination_bucket=bucket
        )
        lambda_.Function(
            self,
            "Api",
            runtime=lambda_.Runtime.PYTHON_3_11,
            handler="api.handler",
            code=lambda_.Code.from_asset("functions"),
            environment={"BUCKET": bucket.bucket_name},
        )


app = cdk.App()
SiteStack(app, "site")
app.synth()
