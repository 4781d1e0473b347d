import os


def handler(event, context):
    return {"handler": "refunds", "service": os.environ["SERVICE"], "event": event}
