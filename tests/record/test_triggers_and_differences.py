"""Reading a trigger from an event's shape; reporting where two answers differ."""

from __future__ import annotations

import json

import pytest

from relay.record.differences import differences
from relay.record.triggers import guess_trigger


@pytest.mark.parametrize(
    ("event", "trigger"),
    [
        ({"Records": [{"eventSource": "aws:sqs", "body": "x"}]}, "sqs"),
        ({"Records": [{"EventSource": "aws:sns", "Sns": {}}]}, "sns"),
        ({"Records": [{"eventSource": "aws:s3"}]}, "s3"),
        ({"Records": [{"eventSource": "aws:dynamodb"}]}, "dynamodb-stream"),
        ({"version": "2.0", "requestContext": {"domainName": "x.lambda-url.us-east-1.on.aws"}},
         "function-url"),
        ({"version": "2.0", "requestContext": {"accountId": "anonymous", "domainName": "h"}},
         "function-url"),
        ({"version": "2.0", "requestContext": {"accountId": "1", "domainName": "a.execute-api"}},
         "http-api"),
        ({"httpMethod": "GET", "requestContext": {"stage": "prod"}}, "rest-api"),
        ({"requestContext": {"connectionId": "c"}}, "websocket-api"),
        ({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}, "schedule"),
        ({"source": "shop.orders", "detail-type": "OrderPlaced", "detail": {}}, "eventbridge"),
        ({"amount": 3}, "invoke"),
        ([1, 2], "invoke"),
    ],
)  # fmt: skip
def test_guess_trigger(event: object, trigger: str) -> None:
    assert guess_trigger(event) == trigger


def test_differences_name_the_path_even_inside_a_json_body() -> None:
    cloud = {"statusCode": 200, "body": json.dumps({"total": 17, "items": [1, 2]})}
    local = {"statusCode": 200, "body": json.dumps({"total": 18, "items": [1, 2], "new": True})}
    assert differences(cloud, local) == ["body.total: 17 != 18", "body.new: (missing) != true"]
    assert differences({"a": 1}, {"a": 1}) == []
    assert differences([1], [1, 2]) == ["(whole): [1] != [1, 2]"]
    assert differences(1, 1.0) == ["(whole): 1 != 1.0"]
