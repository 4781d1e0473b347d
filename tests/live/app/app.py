"""The app tests/live deploys: written as a CDK user would, knowing nothing of relay.

A function behind a function URL (IAM auth), a function triggered by an SQS queue that
writes to a DynamoDB table; every resource is destroyed with the stack, and each function
logs to a log group of the stack, so `relay remove --all` leaves nothing behind.
"""

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs

app = cdk.App()
stage = app.node.try_get_context("stage") or "dev"
stack = cdk.Stack(app, f"relay-live-{stage}")

table = dynamodb.Table(
    stack,
    "Seen",
    partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
    billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
    removal_policy=cdk.RemovalPolicy.DESTROY,
)
queue = sqs.Queue(stack, "Jobs", removal_policy=cdk.RemovalPolicy.DESTROY)


def function(name: str, folder: str, environment: dict[str, str]) -> lambda_.Function:
    return lambda_.Function(
        stack,
        name,
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="app.handler",
        code=lambda_.Code.from_asset(f"functions/{folder}"),
        timeout=cdk.Duration.seconds(15),
        environment=environment,
        log_group=logs.LogGroup(
            stack,
            f"{name}Logs",
            retention=logs.RetentionDays.ONE_DAY,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        ),
    )


hello = function("Hello", "hello", {"GREETING": "Hello"})
url = hello.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)
worker = function("Worker", "worker", {"TABLE": table.table_name})
worker.add_event_source(sources.SqsEventSource(queue, batch_size=1))
table.grant_read_write_data(worker)

cdk.CfnOutput(stack, "QueueUrl", value=queue.queue_url)
cdk.CfnOutput(stack, "TableName", value=table.table_name)
cdk.CfnOutput(stack, "HelloUrl", value=url.url)
app.synth()
