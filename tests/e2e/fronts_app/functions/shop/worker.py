"""Queue and schedule handlers: orders go into the table, uploads and nightly runs are
noted there too (the tests read the table through the emulator's DynamoDB)."""

import json
import os

import boto3

table = boto3.resource("dynamodb").Table(os.environ["ORDERS_TABLE"])


def handler(event, context):
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["SECRET_ARN"])
    flag = boto3.client("ssm").get_parameter(Name=os.environ["FLAG_PARAMETER"])["Parameter"]
    failures = []
    for record in event["Records"]:
        order = json.loads(record["body"])
        if order.get("bad"):
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        table.put_item(
            Item={
                "pk": order["id"],
                "total": str(order["total"]),
                "flag": flag["Value"],
                "secret_length": len(secret["SecretString"]),
            }
        )
    return {"batchItemFailures": failures}


def inbox(event, context):
    for record in event["Records"]:
        note = json.loads(record["body"])  # SNS's notification, queued by the subscription
        s3_event = json.loads(note["Message"])
        for upload in s3_event.get("Records", []):  # S3 first sends an s3:TestEvent
            key = upload["s3"]["object"]["key"]
            table.put_item(Item={"pk": f"upload:{key}", "bucket": upload["s3"]["bucket"]["name"]})


def nightly(event, context):
    table.put_item(Item={"pk": f"nightly:{event['id']}", "detail_type": event["detail-type"]})
