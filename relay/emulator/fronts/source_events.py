"""Events Lambda's pollers and push services hand to functions, built from what moto's SQS
returns (pure: no I/O). SNS, S3 and EventBridge deliveries to functions reach relay through a
private SQS queue each (moto delivers to queues natively); these turn the queued message
back into the event AWS would send the function."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus, unquote_plus

#: SQS attributes Lambda copies into a record (the FIFO ones only for FIFO queues).
_SQS_ATTRIBUTES = (
    "ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp",
    "SequenceNumber", "MessageGroupId", "MessageDeduplicationId", "AWSTraceHeader",
)  # fmt: skip


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    attribute: dict[str, Any] = {}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        import base64

        raw = value["BinaryValue"]
        attribute["binaryValue"] = base64.b64encode(raw).decode() if isinstance(raw, bytes) else raw
    attribute["stringListValues"] = list(value.get("StringListValues", []))
    attribute["binaryListValues"] = list(value.get("BinaryListValues", []))
    attribute["dataType"] = value.get("DataType", "String")
    return attribute


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One record of Lambda's SQS event from a boto3 ReceiveMessage message."""
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {k: attributes[k] for k in _SQS_ATTRIBUTES if k in attributes},
        "messageAttributes": {
            name: _message_attribute(value)
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def sqs_event(messages: Iterable[Mapping[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {"Records": [sqs_record(m, queue_arn, region) for m in messages]}


class InvalidBatchResponse(ValueError):
    """A ReportBatchItemFailures answer Lambda treats as "the whole batch failed"."""


def failed_items(payload: bytes, message_ids: set[str]) -> set[str]:
    """Message ids a function reported with `batchItemFailures` (partial batch response).

    Empty, null or no `batchItemFailures` means all succeeded; an identifier that is missing,
    empty or not in the batch fails the whole batch, as Lambda documents.
    """
    try:
        answer = json.loads(payload or b"null")
    except ValueError:
        return set()
    if not isinstance(answer, dict) or not answer.get("batchItemFailures"):
        return set()
    failures = answer["batchItemFailures"]
    if not isinstance(failures, list):
        raise InvalidBatchResponse("batchItemFailures is not a list")
    failed = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in message_ids:
            raise InvalidBatchResponse(f"itemIdentifier {identifier!r} is not in the batch")
        failed.add(identifier)
    return failed


def sns_event(body: str, subscription_arn: str) -> dict[str, Any]:
    """Lambda's SNS event from the notification SNS queued (non-raw delivery)."""
    note = json.loads(body)
    attributes = {
        name: {"Type": value.get("Type", "String"), "Value": value.get("Value")}
        for name, value in (note.get("MessageAttributes") or {}).items()
    }
    return {
        "Records": [
            {
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "EventSource": "aws:sns",
                "Sns": {
                    "SignatureVersion": note.get("SignatureVersion", "1"),
                    "Timestamp": note["Timestamp"],
                    "Signature": note.get("Signature", ""),
                    "SigningCertUrl": note.get("SigningCertURL", ""),
                    "MessageId": note["MessageId"],
                    "Message": note["Message"],
                    "MessageAttributes": attributes,
                    "Type": note.get("Type", "Notification"),
                    "UnsubscribeUrl": note.get("UnsubscribeURL", ""),
                    "TopicArn": note["TopicArn"],
                    "Subject": note.get("Subject"),
                },
            }
        ]
    }


def is_s3_test_event(body: str) -> bool:
    """S3 queues `s3:TestEvent` when a notification is configured; functions never see it."""
    try:
        return bool(json.loads(body).get("Event") == "s3:TestEvent")
    except (ValueError, AttributeError):
        return False


def complete_s3_event(event: dict[str, Any], owner: str = "relay-local") -> dict[str, Any]:
    """S3's notification as moto builds it, completed with the fields AWS's records carry
    and the key encoded as S3 does (spaces as "+", "/" kept)."""
    for record in event.get("Records", []):
        record.setdefault("userIdentity", {"principalId": f"AWS:{owner}"})
        record.setdefault("requestParameters", {"sourceIPAddress": "127.0.0.1"})
        record.setdefault(
            "responseElements",
            {"x-amz-request-id": uuid.uuid4().hex[:16].upper(), "x-amz-id-2": uuid.uuid4().hex},
        )
        s3 = record.get("s3", {})
        s3.get("bucket", {}).setdefault("ownerIdentity", {"principalId": owner})
        obj = s3.get("object", {})
        obj.setdefault("sequencer", f"{time.time_ns():X}"[:18])
        if "key" in obj:
            obj["key"] = quote_plus(unquote_plus(obj["key"]), safe="/")
    return event


def scheduled_event(rule_arn: str, region: str, account: str, when: datetime) -> dict[str, Any]:
    """The event a schedule rule sends its targets."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }
