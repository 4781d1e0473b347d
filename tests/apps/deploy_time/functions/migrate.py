def handler(event, context):
    return "migrated"
