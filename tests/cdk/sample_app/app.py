"""An ordinary CDK app that knows nothing of relay (tests apply live mode from outside)."""

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3

app = cdk.App()
stage = app.node.try_get_context("stage")
stack = cdk.Stack(app, f"shop-{stage}")
table = dynamodb.Table(
    stack,
    "OrderTable",
    partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
    billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
    removal_policy=cdk.RemovalPolicy.DESTROY,
)
uploads = s3.Bucket(stack, "Uploads", removal_policy=cdk.RemovalPolicy.DESTROY)
shared = lambda_.LayerVersion(
    stack,
    "Shared",
    code=lambda_.Code.from_asset("layers/shared"),
    compatible_runtimes=[lambda_.Runtime.PYTHON_3_12],
)
orders = lambda_.Function(
    stack,
    "Orders",
    runtime=lambda_.Runtime.PYTHON_3_12,
    handler="orders.handler",
    code=lambda_.Code.from_asset("functions/orders"),
    layers=[shared],
    timeout=cdk.Duration.seconds(20),
    memory_size=512,
    environment={
        "TABLE": table.table_name,
        "TABLE_ARN": table.table_arn,
        "UPLOADS_ARN": uploads.bucket_arn,
        "PLAIN": "kept",
        "WHERE": cdk.Fn.sub("${AWS::Region}/${AWS::AccountId}"),
    },
)
orders.add_function_url(auth_type=lambda_.FunctionUrlAuthType.NONE)
orders.configure_async_invoke(retry_attempts=2, max_event_age=cdk.Duration.minutes(5))
table.grant_read_write_data(orders)
lambda_.Function(
    stack,
    "Audit",
    runtime=lambda_.Runtime.NODEJS_22_X,
    handler="index.handler",
    code=lambda_.Code.from_inline("exports.handler = async () => 'ok';"),
)
app.synth()
