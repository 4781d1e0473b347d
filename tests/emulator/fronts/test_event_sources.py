"""Event sources on the emulator: SQS mappings (batches, partial failures, DLQ), SNS
subscriptions with filter policies, S3 notifications with prefix/suffix filters, EventBridge
patterns and schedules. Each event reaches a real function, which stores it in moto's S3."""

from __future__ import annotations

import json

import pytest

from relay.emulator import Emulator
from relay.emulator.fronts.event_sources import RuleTarget, ScheduledRule, UnknownRule
from relay.emulator.fronts.pollers import SqsMapping, StreamMapping
from relay.emulator.fronts.schedules import parse
from tests.emulator.fronts.conftest import recorded, recorder
from tests.emulator.fronts.shapes import differences, documented

ACCOUNT = "123456789012"


def queue(emu: Emulator, name: str, **attributes: str) -> tuple[str, str]:
    sqs = emu.service_client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def test_sqs_mapping_delivers_batches_in_lambdas_shape(emu: Emulator, events_bucket: str) -> None:
    function = recorder(emu, "esm-batch")
    url, arn = queue(emu, "esm-batch")
    sqs = emu.service_client("sqs")
    for n in range(3):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=f"m{n}",
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "k"}},
        )
    emu.event_sources.add_sqs_mapping(SqsMapping(url, arn, function, batch_size=10, window=2))
    events = recorded(emu, function, 1)
    bodies = sorted(r["body"] for e in events for r in e["Records"])
    assert bodies == ["m0", "m1", "m2"]
    record = events[0]["Records"][0]
    assert differences(events[0], documented("sqs_event.json")) == []
    assert record["eventSourceARN"] == arn and record["awsRegion"] == "us-east-1"
    assert record["messageAttributes"]["kind"] == {
        "stringValue": "k",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert set(record["attributes"]) >= {"SentTimestamp", "ApproximateFirstReceiveTimestamp"}
    remaining = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert remaining["ApproximateNumberOfMessages"] == "0"


def test_partial_batch_failure_retries_only_failed_items_then_dlq(
    emu: Emulator, events_bucket: str
) -> None:
    function = recorder(emu, "esm-partial")
    dlq_url, dlq_arn = queue(emu, "esm-partial-dlq")
    url, arn = queue(
        emu,
        "esm-partial",
        VisibilityTimeout="1",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
    )
    sqs = emu.service_client("sqs")
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "ok"}, {"Id": "2", "MessageBody": "fail"}]
    )
    emu.event_sources.add_sqs_mapping(
        SqsMapping(url, arn, function, batch_size=10, window=1, report_batch_item_failures=True)
    )
    deliveries = recorded(emu, function, 2)
    seen = [r["body"] for e in deliveries for r in e["Records"]]
    # "ok" is delivered once (deleted after the first batch); "fail" is received
    # maxReceiveCount times, then moto's redrive moves it to the DLQ.
    assert seen.count("fail") == 2 and seen.count("ok") == 1
    moved = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=5)["Messages"]
    assert [m["Body"] for m in moved] == ["fail"]


def test_sns_subscription_with_filter_policy(emu: Emulator, events_bucket: str) -> None:
    function = recorder(emu, "sns-sub")
    sns = emu.service_client("sns")
    topic = sns.create_topic(Name="orders")["TopicArn"]
    subscription = emu.event_sources.deliver_sns(
        topic, function, {"FilterPolicy": json.dumps({"kind": ["order"]})}
    )
    sns.publish(
        TopicArn=topic,
        Message="skip me",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "other"}},
    )
    sns.publish(
        TopicArn=topic,
        Message="hello",
        Subject="greeting",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "order"}},
    )
    (event,) = recorded(emu, function, 1)
    assert differences(event, documented("sns_event.json")) == []
    record = event["Records"][0]
    assert record["EventSubscriptionArn"] == subscription
    assert record["Sns"]["Message"] == "hello" and record["Sns"]["Subject"] == "greeting"
    assert record["Sns"]["TopicArn"] == topic
    assert record["Sns"]["MessageAttributes"] == {"kind": {"Type": "String", "Value": "order"}}


def test_s3_notification_with_prefix_and_suffix_filter(emu: Emulator, events_bucket: str) -> None:
    function = recorder(emu, "s3-notify")
    s3 = emu.service_client("s3")
    s3.create_bucket(Bucket="uploads-test")
    queue_arn = emu.event_sources.deliver_s3(function)
    s3.put_bucket_notification_configuration(
        Bucket="uploads-test",
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "images",
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {
                            "FilterRules": [
                                {"Name": "prefix", "Value": "in/"},
                                {"Name": "suffix", "Value": ".png"},
                            ]
                        }
                    },
                }
            ]
        },
    )
    s3.put_object(Bucket="uploads-test", Key="in/a.txt", Body=b"no")
    s3.put_object(Bucket="uploads-test", Key="out/b.png", Body=b"no")
    s3.put_object(Bucket="uploads-test", Key="in/c d.png", Body=b"yes!")
    (event,) = recorded(emu, function, 1)
    assert differences(event, documented("s3_event.json")) == []
    record = event["Records"][0]
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["bucket"]["name"] == "uploads-test"
    assert record["s3"]["object"]["key"] == "in/c+d.png"  # URL-encoded, as S3 sends keys
    assert record["s3"]["object"]["size"] == 4
    assert record["s3"]["configurationId"] == "images"


@pytest.mark.parametrize(
    ("pattern", "matching", "other"),
    [
        ({"detail": {"state": [{"prefix": "run"}]}}, {"state": "running"}, {"state": "stopped"}),
        (
            {"detail": {"state": [{"anything-but": ["stopped"]}]}},
            {"state": "x"},
            {"state": "stopped"},
        ),
        ({"detail": {"n": [{"numeric": [">", 10, "<=", 20]}]}}, {"n": 20}, {"n": 10}),
        ({"detail": {"tag": [{"exists": False}]}}, {"other": 1}, {"tag": "t"}),
        ({"detail": {"name": [{"suffix": ".png"}]}}, {"name": "a.png"}, {"name": "a.jpg"}),
        ({"detail": {"c": [{"equals-ignore-case": "red"}]}}, {"c": "RED"}, {"c": "blue"}),
    ],
)
def test_eventbridge_pattern_rule(
    emu: Emulator, events_bucket: str, pattern: dict, matching: dict, other: dict
) -> None:
    name = f"eb-{abs(hash(json.dumps(pattern))) % 10**8}"
    function = recorder(emu, name)
    events = emu.service_client("events")
    events.put_rule(Name=name, EventPattern=json.dumps({"source": ["shop"], **pattern}))
    target = emu.event_sources.deliver_events(function)
    events.put_targets(Rule=name, Targets=[{"Id": "fn", "Arn": target}])
    for detail in (other, matching):
        events.put_events(
            Entries=[{"Source": "shop", "DetailType": "changed", "Detail": json.dumps(detail)}]
        )
    (event,) = recorded(emu, function, 1)
    assert event["detail"] == matching
    assert event["source"] == "shop" and event["detail-type"] == "changed"
    assert event["account"] == ACCOUNT and event["region"] == "us-east-1"


def test_schedule_fires_when_the_clock_is_fast_forwarded(emu: Emulator, events_bucket: str) -> None:
    function = recorder(emu, "every-5")
    arn = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/every-5"
    sources = emu.event_sources
    sources.add_schedule(
        ScheduledRule(
            "every-5",
            arn,
            parse("rate(5 minutes)"),
            [RuleTarget(f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{function}")],
            path="App/Stack/Every5",
        )
    )
    assert emu.run(sources.advance(200)) == []
    fired = emu.run(sources.advance(110))
    assert [name for name, _ in fired] == ["every-5"]
    (event,) = recorded(emu, function, 1)
    assert differences(event, documented("scheduled_event.json")) == []
    assert event["resources"] == [arn]
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"


def test_trigger_fires_a_rule_now_with_its_constant_input(
    emu: Emulator, events_bucket: str
) -> None:
    function = recorder(emu, "nightly")
    sources = emu.event_sources
    sources.add_schedule(
        ScheduledRule(
            "nightly-rule",
            f"arn:aws:events:us-east-1:{ACCOUNT}:rule/nightly-rule",
            parse("cron(0 3 * * ? *)"),
            [
                RuleTarget(
                    f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{function}",
                    input='{"job": "cleanup"}',
                )
            ],
            path="App/Stack/Nightly",
        )
    )
    rule = emu.run(sources.trigger("Nightly"))
    assert rule.fired == 1
    assert recorded(emu, function, 1) == [{"job": "cleanup"}]
    with pytest.raises(UnknownRule, match="App/Stack/Nightly"):
        emu.run(sources.trigger("nope"))


def test_dynamodb_stream_mapping_delivers_inserts(emu: Emulator, events_bucket: str) -> None:
    function = recorder(emu, "stream-reader")
    ddb = emu.service_client("dynamodb")
    table = ddb.create_table(
        TableName="streamed",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "Id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "Id", "AttributeType": "N"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]
    stream = table["LatestStreamArn"]
    emu.event_sources.add_stream_mapping(
        StreamMapping(stream, function, starting_position="TRIM_HORIZON")
    )
    ddb.put_item(TableName="streamed", Item={"Id": {"N": "101"}, "Message": {"S": "New item!"}})
    (event,) = recorded(emu, function, 1)
    assert differences(event, documented("dynamodb_event.json")) == []
    record = event["Records"][0]
    assert record["eventName"] == "INSERT" and record["eventSourceARN"] == stream
    assert record["dynamodb"]["Keys"] == {"Id": {"N": "101"}}
    assert record["dynamodb"]["NewImage"] == {"Id": {"N": "101"}, "Message": {"S": "New item!"}}
