"""GET/POST greeting behind a function URL; records each visit in the app's table."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from typing import Any

import boto3

GREETING = "Hello"  # edit it and save: the next request answers with the new greeting

_table = None


def _visits():
    """Created once per execution environment, as on Lambda."""
    global _table
    if _table is None:
        _table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
    return _table


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    method = event.get("requestContext", {}).get("http", {}).get("method", "GET")
    name = (event.get("queryStringParameters") or {}).get("name", "world")
    if method == "POST" and event.get("body"):
        body = event["body"]
        if event.get("isBase64Encoded"):
            body = base64.b64decode(body).decode()
        try:
            name = json.loads(body).get("name", name)
        except (ValueError, AttributeError):
            return {
                "statusCode": 400,
                "headers": {"content-type": "application/json"},
                "body": json.dumps({"error": 'body must be JSON like {"name": "Ada"}'}),
            }
    _visits().put_item(
        Item={"pk": f"visit#{name}", "sk": f"{time.time_ns()}#{uuid.uuid4()}", "via": "http"}
    )
    message = f"{GREETING}, {name}! (stage {os.environ.get('STAGE')})"
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"message": message, "function": context.function_name}),
    }
