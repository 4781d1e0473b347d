import os


def handler(event, context):
    return {"bucket": os.environ["BUCKET"]}
