import os

from shared import tag


def handler(event, context):
    return {"table": os.environ["TABLE"], "tag": tag()}
