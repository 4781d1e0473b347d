import os
import sys

from common import shout
from slugify import slugify


def handle(event, context):
    return {
        "slug": slugify(event["title"]),
        "shout": shout(event["title"]),
        "execution_env": os.environ["AWS_EXECUTION_ENV"],
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
    }
