"""Both APIs' handler: GET /orders/{id} reads the order; POST /orders queues one."""

import json
import os

import boto3

table = boto3.resource("dynamodb").Table(os.environ["ORDERS_TABLE"])
sqs = boto3.client("sqs")


def handler(event, context):
    method = event.get("httpMethod") or event["requestContext"]["http"]["method"]
    if method == "POST":
        order = json.loads(event["body"])
        sqs.send_message(QueueUrl=os.environ["ORDERS_QUEUE_URL"], MessageBody=json.dumps(order))
        return {"statusCode": 202, "body": json.dumps({"queued": order["id"]})}
    order_id = (event.get("pathParameters") or {}).get("id") or (
        event.get("pathParameters") or {}
    ).get("proxy", "").rsplit("/", 1)[-1]
    item = table.get_item(Key={"pk": order_id}).get("Item")
    if item is None:
        return {"statusCode": 404, "body": json.dumps({"missing": order_id})}
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(item, default=str),
    }
