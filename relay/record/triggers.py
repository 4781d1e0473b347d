"""Which AWS service an event came from, read from the event's documented shape."""

from __future__ import annotations

from typing import Any

_RECORD_SOURCES = {
    "aws:sqs": "sqs",
    "aws:sns": "sns",
    "aws:s3": "s3",
    "aws:dynamodb": "dynamodb-stream",
    "aws:kinesis": "kinesis",
}


def guess_trigger(event: Any) -> str:
    """A short name (function-url, http-api, rest-api, sqs, schedule, ...) or ``invoke``."""
    if not isinstance(event, dict):
        return "invoke"
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], dict):
        source = records[0].get("eventSource") or records[0].get("EventSource")
        return _RECORD_SOURCES.get(str(source), "records")
    context = event.get("requestContext")
    if isinstance(context, dict):
        if "connectionId" in context:
            return "websocket-api"
        domain = str(context.get("domainName", ""))
        if event.get("version") == "2.0":
            url = ".lambda-url." in domain or context.get("accountId") == "anonymous"
            return "function-url" if url else "http-api"
        if "httpMethod" in event:
            return "rest-api"
    if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
        return "schedule"
    if "detail-type" in event and "source" in event:
        return "eventbridge"
    return "invoke"
