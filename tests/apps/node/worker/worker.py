def handler(event, context):
    return {"worker": "python"}
