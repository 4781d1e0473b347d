"""A function-URL handler: payload format 2.0 in, Lambda's response mapping out."""

import json
import os


def handler(event, context):
    body = event.get("body") or ""
    return {
        "statusCode": 201 if event["requestContext"]["http"]["method"] == "POST" else 200,
        "headers": {"content-type": "application/json", "x-relay-test": "yes"},
        "body": json.dumps(
            {
                "path": event["rawPath"],
                "query": event.get("rawQueryString", ""),
                "method": event["requestContext"]["http"]["method"],
                "length": len(body),
                "greeting": os.environ.get("GREETING"),
                "version": 1,
            }
        ),
    }
