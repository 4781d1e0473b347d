def on_event(event, context):
    return {"PhysicalResourceId": "seed"}


def is_complete(event, context):
    return {"IsComplete": True}
