from common import shout
from slugify import slugify


def handle(event, context):
    return {"slug": slugify(event["title"]), "shout": shout(event["title"])}
