from slugify import slugify


def handler(event, context):
    return slugify(event.get("title", "Hello World"))
