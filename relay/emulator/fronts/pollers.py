"""Queue pollers: what Lambda's SQS event source mappings do, on moto's SQS.

One thread per mapping long-polls its queue (moto wakes a long poll as soon as a message
arrives) and hands each batch to the function through `FunctionRegistry.invoke` on the
emulator's loop. Deliveries from SNS, S3 and EventBridge to functions use the same machinery
on a private queue each, one message per invocation (asynchronous invocation semantics).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from relay.emulator.fronts.invoking import invoke_with_timeout
from relay.emulator.fronts.source_events import InvalidBatchResponse, failed_items, sqs_event
from relay.emulator.functions import FunctionRegistry

log = logging.getLogger("relay.emulator")

#: Lambda retries a failed asynchronous invocation twice.
ASYNC_ATTEMPTS = 3
_POLL_WAIT = 1  # seconds per long poll, so a stop is noticed quickly


@dataclass
class SqsMapping:
    """An event source mapping as CloudFormation declares it (AWS::Lambda::EventSourceMapping)."""

    queue_url: str
    queue_arn: str
    function: str
    batch_size: int = 10
    window: float = 0.0  # MaximumBatchingWindowInSeconds
    report_batch_item_failures: bool = False
    enabled: bool = True


@dataclass
class StreamMapping:
    """An event source mapping on a DynamoDB stream (moto's dynamodbstreams)."""

    stream_arn: str
    function: str
    batch_size: int = 100
    starting_position: str = "LATEST"  # or TRIM_HORIZON
    max_retries: int = -1  # MaximumRetryAttempts; -1: until it succeeds, as Lambda does
    report_batch_item_failures: bool = False


#: Lambda polls a stream's shards four times a second.
STREAM_POLL_INTERVAL = 0.25


@dataclass
class Delivery:
    """A push delivery to a function through a private queue (SNS, S3, EventBridge)."""

    queue_url: str
    function: str
    source: str  # "sns", "s3", "events"
    to_event: Callable[[str], dict[str, Any] | None]  # message body -> event (None: skip)


class Poller:
    """One polling thread; `stop()` returns within about a second."""

    def __init__(
        self,
        target: SqsMapping | StreamMapping | Delivery,
        *,
        functions: FunctionRegistry,
        loop: asyncio.AbstractEventLoop,
        client: Callable[[], Any],
        region: str,
        on_invoke: Callable[[str, str], None] | None = None,
    ) -> None:
        self.target = target
        self.functions = functions
        self.loop = loop
        self.region = region
        self._client_factory = client
        self._on_invoke = on_invoke
        self._stop = threading.Event()
        kind = target.source if isinstance(target, Delivery) else "esm"
        name = f"relay-{kind}-poller"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)

    # -- the loop ------------------------------------------------------------------------

    def _run(self) -> None:
        if isinstance(self.target, StreamMapping):
            self._run_stream(self.target)
            return
        sqs = self._client_factory()
        while not self._stop.is_set():
            try:
                if isinstance(self.target, SqsMapping):
                    self._poll_mapping(sqs, self.target)
                else:
                    self._poll_delivery(sqs, self.target)
            except Exception as exc:  # keep polling after any single bad event
                if self._stop.is_set():
                    return
                log.warning("emulator: poller for %s: %s", self.target.function, exc)
                self._stop.wait(1.0)

    def _receive(self, sqs: Any, url: str, count: int, wait: float) -> list[dict[str, Any]]:
        response = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=max(1, min(10, count)),
            WaitTimeSeconds=max(0, int(wait)),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    def _invoke(self, payload: dict[str, Any], where: str) -> Any:
        if self._on_invoke is not None:
            self._on_invoke(self.target.function, where)
        future = asyncio.run_coroutine_threadsafe(
            invoke_with_timeout(
                self.functions,
                self.target.function,
                json.dumps(payload).encode(),
                timeout=None,
                where=where,
            ),
            self.loop,
        )
        return future.result()

    def _poll_mapping(self, sqs: Any, mapping: SqsMapping) -> None:
        if not mapping.enabled:
            self._stop.wait(_POLL_WAIT)
            return
        batch = self._receive(sqs, mapping.queue_url, mapping.batch_size, _POLL_WAIT)
        if not batch:
            return
        deadline = time.monotonic() + mapping.window
        while len(batch) < mapping.batch_size and not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            more = self._receive(
                sqs, mapping.queue_url, mapping.batch_size - len(batch), min(remaining, 1)
            )
            if not more and remaining < 1:
                break
            batch.extend(more)
        event = sqs_event(batch, mapping.queue_arn, self.region)
        outcome = self._invoke(event, f"SQS {mapping.queue_arn}")
        result = outcome.result
        if result is None or result.function_error:
            # Left in the queue: visible again after the visibility timeout; the queue's
            # redrive policy moves it to its DLQ after maxReceiveCount receives.
            return
        delete = {m["MessageId"]: m["ReceiptHandle"] for m in batch}
        if mapping.report_batch_item_failures:
            try:
                for failed in failed_items(result.payload, set(delete)):
                    delete.pop(failed)
            except InvalidBatchResponse as exc:
                log.warning("emulator: %s: %s; the whole batch is retried", mapping.function, exc)
                return
        for start in range(0, len(delete), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": handle}
                for i, handle in enumerate(list(delete.values())[start : start + 10])
            ]
            sqs.delete_message_batch(QueueUrl=mapping.queue_url, Entries=entries)

    def _poll_delivery(self, sqs: Any, delivery: Delivery) -> None:
        for message in self._receive(sqs, delivery.queue_url, 10, _POLL_WAIT):
            handle = message["ReceiptHandle"]
            event = delivery.to_event(message.get("Body", ""))
            if event is not None:
                outcome = self._invoke(event, f"{delivery.source} delivery")
                result = outcome.result
                attempts = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
                if (result is None or result.function_error) and attempts < ASYNC_ATTEMPTS:
                    continue  # retried when the private queue shows it again
                if result is None or result.function_error:
                    log.warning(
                        "emulator: %s delivery to %s failed %d times; dropped, as "
                        "Lambda drops it without an on-failure destination",
                        delivery.source,
                        delivery.function,
                        attempts,
                    )
            sqs.delete_message(QueueUrl=delivery.queue_url, ReceiptHandle=handle)

    # -- DynamoDB streams ------------------------------------------------------------------

    def _run_stream(self, mapping: StreamMapping) -> None:
        streams = self._client_factory()
        iterators: dict[str, str] = {}
        while not self._stop.is_set():
            try:
                shards = streams.describe_stream(StreamArn=mapping.stream_arn)["StreamDescription"][
                    "Shards"
                ]
                for shard in shards:
                    if shard["ShardId"] not in iterators:
                        iterators[shard["ShardId"]] = streams.get_shard_iterator(
                            StreamArn=mapping.stream_arn,
                            ShardId=shard["ShardId"],
                            ShardIteratorType=mapping.starting_position,
                        )["ShardIterator"]
                for shard_id, iterator in list(iterators.items()):
                    answer = streams.get_records(ShardIterator=iterator, Limit=mapping.batch_size)
                    records = answer.get("Records", [])
                    if records and not self._deliver_stream(mapping, records):
                        continue  # retried from the same position next round
                    iterators[shard_id] = answer.get("NextShardIterator") or iterator
            except Exception as exc:  # keep polling after any single bad batch
                log.warning("emulator: stream poller for %s: %s", mapping.function, exc)
            self._stop.wait(STREAM_POLL_INTERVAL)

    def _deliver_stream(self, mapping: StreamMapping, records: list[dict[str, Any]]) -> bool:
        event = {"Records": [stream_record(r, mapping.stream_arn, self.region) for r in records]}
        attempts = 0
        while not self._stop.is_set():
            attempts += 1
            result = self._invoke(event, f"DynamoDB stream {mapping.stream_arn}").result
            if result is not None and not result.function_error:
                return True
            if 0 <= mapping.max_retries < attempts:
                log.warning(
                    "emulator: %s: stream batch dropped after %d attempts",
                    mapping.function,
                    attempts,
                )
                return True
            self._stop.wait(1.0)
        return False


def stream_record(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A DynamoDB stream record (boto3, typed attribute values) as Lambda hands it over."""
    data = dict(record.get("dynamodb", {}))
    created = data.get("ApproximateCreationDateTime")
    if created is not None and hasattr(created, "timestamp"):
        data["ApproximateCreationDateTime"] = int(created.timestamp())
    return {
        "eventID": record.get("eventID"),
        "eventName": record.get("eventName"),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": data,
        "eventSourceARN": stream_arn,
    }
