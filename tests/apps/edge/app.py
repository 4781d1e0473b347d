"""Lambda@Edge with `cloudfront.experimental.EdgeFunction`, in front of an S3 origin."""

import aws_cdk as cdk
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3


class CdnStack(cdk.Stack):
    def __init__(self, scope, id: str, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        rewrite = cloudfront.experimental.EdgeFunction(
            self,
            "Rewrite",
            runtime=lambda_.Runtime.PYTHON_3_11,
            handler="rewrite.handler",
            code=lambda_.Code.from_asset("functions"),
        )
        cloudfront.Distribution(
            self,
            "Cdn",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(s3.Bucket(self, "Site")),
                edge_lambdas=[
                    cloudfront.EdgeLambda(
                        function_version=rewrite.current_version,
                        event_type=cloudfront.LambdaEdgeEventType.VIEWER_REQUEST,
                    )
                ],
            ),
        )
        lambda_.Function(
            self,
            "Api",
            runtime=lambda_.Runtime.PYTHON_3_11,
            handler="api.handler",
            code=lambda_.Code.from_asset("functions"),
        )


class UsEastCdnStack(cdk.Stack):
    """In us-east-1 a plain Function's version can be associated directly."""

    def __init__(self, scope, id: str, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        headers = lambda_.Function(
            self,
            "Headers",
            runtime=lambda_.Runtime.PYTHON_3_11,
            handler="rewrite.handler",
            code=lambda_.Code.from_asset("functions"),
        )
        cloudfront.Distribution(
            self,
            "Cdn",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(s3.Bucket(self, "Site")),
                edge_lambdas=[
                    cloudfront.EdgeLambda(
                        function_version=headers.current_version,
                        event_type=cloudfront.LambdaEdgeEventType.ORIGIN_RESPONSE,
                    )
                ],
            ),
        )


app = cdk.App()
CdnStack(app, "cdn", env=cdk.Environment(account="123456789012", region="eu-west-1"))
UsEastCdnStack(app, "cdn-us", env=cdk.Environment(account="123456789012", region="us-east-1"))
app.synth()
