"""The one handler every tool in bench/peers.py runs (relay, its peers, the in-process limit).

An HTTP event (function URL / HTTP API payload 2.0, or REST 1.0) answers with the code's
VERSION (the reload benchmark rewrites it) and `size` bytes of body; `?size=N` or an Invoke
payload `{"size": N}` chooses N.
"""

VERSION = "v0000"


def handler(event, context):
    query = event.get("queryStringParameters") or {}
    size = int(query.get("size") or event.get("size") or 0)
    return {
        "statusCode": 200,
        "headers": {"content-type": "text/plain"},
        "body": VERSION + " " + "x" * size,
    }
