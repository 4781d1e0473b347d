def handler(event, context):
    return {"api": True}
