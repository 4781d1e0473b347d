import humanize


def handler(event, context):
    return humanize.naturalsize(event.get("bytes", 1_000_000))
