import json
import os


def handler(event, context):
    name = (event.get("queryStringParameters") or {}).get("name", "world")
    body = {
        "message": f"{os.environ['GREETING']}, {name}",
        "local": os.environ.get("IS_LOCAL") == "true",
        "version": 1,
    }
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
    }
