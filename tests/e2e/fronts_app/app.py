"""The front-door end-to-end app: a REST API, an HTTP API, an SQS-triggered function writing
to a TableV2 table, an S3 → SNS → SQS chain and a schedule, written the way CDK users write
them (it knows nothing of relay)."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm

CODE = str(Path(__file__).parent / "functions" / "shop")


class ShopStack(cdk.Stack):
    def __init__(self, scope: cdk.App, id: str) -> None:
        super().__init__(scope, id)
        orders = dynamodb.TableV2(
            self,
            "Orders",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        uploads = s3.Bucket(self, "Uploads", removal_policy=cdk.RemovalPolicy.DESTROY)
        secret = secretsmanager.Secret(self, "ApiKey")
        flag = ssm.StringParameter(self, "Flag", string_value="on")
        dead = sqs.Queue(self, "OrdersDlq")
        queue = sqs.Queue(
            self,
            "OrdersQueue",
            dead_letter_queue=sqs.DeadLetterQueue(queue=dead, max_receive_count=3),
        )
        topic = sns.Topic(self, "UploadsTopic")
        uploads.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.SnsDestination(topic),
            s3.NotificationKeyFilter(prefix="incoming/", suffix=".csv"),
        )
        inbox = sqs.Queue(self, "UploadsInbox")
        topic.add_subscription(subscriptions.SqsSubscription(inbox))

        environment = {
            "ORDERS_TABLE": orders.table_name,
            "ORDERS_QUEUE_URL": queue.queue_url,
            "UPLOADS_BUCKET": uploads.bucket_name,
            "SECRET_ARN": secret.secret_arn,
            "FLAG_PARAMETER": flag.parameter_name,
        }

        def function(name: str, handler: str) -> lambda_.Function:
            fn = lambda_.Function(
                self,
                name,
                runtime=lambda_.Runtime.PYTHON_3_12,
                handler=handler,
                code=lambda_.Code.from_asset(CODE),
                timeout=cdk.Duration.seconds(10),
                environment=environment,
            )
            orders.grant_read_write_data(fn)
            queue.grant_send_messages(fn)
            secret.grant_read(fn)
            flag.grant_read(fn)
            return fn

        api_fn = function("Api", "api.handler")
        apigw.LambdaRestApi(
            self,
            "ShopApi",
            handler=api_fn,
            deploy_options=apigw.StageOptions(stage_name="prod"),
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=["https://shop.example"],
                allow_methods=["GET", "POST"],
            ),
        )
        http = apigwv2.HttpApi(self, "ShopHttp")
        http.add_routes(
            path="/orders/{id}",
            methods=[apigwv2.HttpMethod.GET],
            integration=integrations.HttpLambdaIntegration("OrdersRoute", api_fn),
        )

        worker = function("Worker", "worker.handler")
        worker.add_event_source(
            sources.SqsEventSource(queue, batch_size=5, report_batch_item_failures=True)
        )
        inbox_fn = function("Inbox", "worker.inbox")
        inbox_fn.add_event_source(sources.SqsEventSource(inbox))

        nightly = function("Nightly", "worker.nightly")
        events.Rule(
            self,
            "NightlyRule",
            schedule=events.Schedule.cron(hour="3", minute="0"),
            targets=[targets.LambdaFunction(nightly)],
        )
        cdk.CfnOutput(self, "RestUrl", value=http.api_endpoint)


app = cdk.App()
ShopStack(app, "shop")
app.synth()
