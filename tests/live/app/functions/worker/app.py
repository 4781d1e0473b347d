import os

import boto3


def handler(event, context):
    table = boto3.resource("dynamodb").Table(os.environ["TABLE"])
    for record in event["Records"]:
        table.put_item(
            Item={
                "id": record["messageId"],
                "body": record["body"],
                "local": os.environ.get("IS_LOCAL") == "true",
            }
        )
