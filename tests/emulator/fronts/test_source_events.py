"""Pure event builders: partial batch responses as Lambda reads them, SNS/S3 conversion."""

from __future__ import annotations

import json

import pytest

from relay.emulator.fronts.source_events import (
    InvalidBatchResponse,
    failed_items,
    is_s3_test_event,
    sns_event,
)
from tests.emulator.fronts.shapes import differences, documented

IDS = {"a", "b", "c"}


@pytest.mark.parametrize(
    ("answer", "failed"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        ("not a dict", set()),
    ],
)
def test_partial_batch_response(answer: object, failed: set[str]) -> None:
    assert failed_items(json.dumps(answer).encode(), IDS) == failed


@pytest.mark.parametrize(
    "answer",
    [
        {"batchItemFailures": [{"itemIdentifier": "zz"}]},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{}]},
        {"batchItemFailures": "b"},
    ],
)
def test_invalid_partial_batch_response_fails_the_whole_batch(answer: object) -> None:
    with pytest.raises(InvalidBatchResponse):
        failed_items(json.dumps(answer).encode(), IDS)


def test_sns_event_from_a_queued_notification() -> None:
    queued = json.dumps(
        {
            "Type": "Notification",
            "MessageId": "m-1",
            "TopicArn": "arn:aws:sns:us-east-1:1:t",
            "Message": "hi",
            "Timestamp": "2026-12-01T00:00:00.000Z",
            "SignatureVersion": "2",
            "Signature": "sig",
            "SigningCertURL": "https://c",
            "UnsubscribeURL": "https://u",
        }
    )
    event = sns_event(queued, "arn:aws:sns:us-east-1:1:t:sub")
    assert differences(event, documented("sns_event.json")) == []
    sns = event["Records"][0]["Sns"]
    assert sns["Subject"] is None and sns["MessageAttributes"] == {}
    assert sns["SigningCertUrl"] == "https://c" and sns["UnsubscribeUrl"] == "https://u"


def test_s3_test_event_is_recognised() -> None:
    assert is_s3_test_event('{"Service": "Amazon S3", "Event": "s3:TestEvent"}')
    assert not is_s3_test_event('{"Records": []}')
    assert not is_s3_test_event("not json")
