import os


def handler(event, context):
    return {"handler": "payments", "service": os.environ["SERVICE"], "event": event}
