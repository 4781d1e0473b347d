import os


def handler(event, context):
    return {"handler": "orders", "service": os.environ["SERVICE"], "event": event}
