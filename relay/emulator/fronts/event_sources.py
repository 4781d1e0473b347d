"""The emulator's event sources: SQS event source mappings, SNS/S3/EventBridge deliveries to
functions, and schedule rules with a clock that can be fast-forwarded (and `trigger`).

moto's server does the routing it knows (SNS filter policies, S3 notification filters,
EventBridge event patterns and input transformers) into queues; relay polls those queues
and invokes the functions through `FunctionRegistry.invoke`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from relay.emulator.fronts import source_events
from relay.emulator.fronts.invoking import invoke_with_timeout
from relay.emulator.fronts.pollers import (
    ASYNC_ATTEMPTS,
    Delivery,
    Poller,
    SqsMapping,
    StreamMapping,
)
from relay.emulator.fronts.schedules import Schedule, Scheduler
from relay.emulator.functions import FunctionRegistry

log = logging.getLogger("relay.emulator")


class UnknownRule(KeyError):
    """`trigger` was given a rule the emulator does not schedule; the message lists them."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass
class RuleTarget:
    arn: str
    input: str | None = None  # constant JSON text
    input_path: str | None = None  # "$.detail" and the like


@dataclass
class ScheduledRule:
    name: str
    arn: str
    schedule: Schedule
    targets: list[RuleTarget] = field(default_factory=list)
    path: str = ""  # construct path
    fired: int = 0


def _select(event: dict[str, Any], path: str) -> Any:
    value: Any = event
    for part in path.removeprefix("$").strip(".").split("."):
        if part:
            value = value.get(part) if isinstance(value, dict) else None
    return value


class EventSources:
    """Owned by the Emulator; runs on its loop (pollers in threads)."""

    def __init__(
        self,
        *,
        functions: FunctionRegistry,
        loop: asyncio.AbstractEventLoop,
        client: Callable[[str], Any],
        region: str,
        account_id: str,
        on_invoke: Callable[[str, str], None] | None = None,
    ) -> None:
        self.functions = functions
        self.loop = loop
        self.region = region
        self.account_id = account_id
        self._client = client
        self._on_invoke = on_invoke
        self._pollers: list[Poller] = []
        self.rules: dict[str, ScheduledRule] = {}
        self._scheduler = Scheduler()
        self._lock = threading.Lock()  # provisioning adds rules from its own thread
        self._offset = timedelta()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- clock ---------------------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    async def advance(self, seconds: float) -> list[tuple[str, datetime]]:
        """Move the clock forward and fire what became due (tests, `relay trigger --after`)."""
        self._offset += timedelta(seconds=seconds)
        return await self.fire_due()

    # -- SQS mappings and deliveries ----------------------------------------------------

    def _start(self, target: SqsMapping | StreamMapping | Delivery) -> None:
        service = "dynamodbstreams" if isinstance(target, StreamMapping) else "sqs"
        poller = Poller(
            target,
            functions=self.functions,
            loop=self.loop,
            client=lambda: self._client(service),
            region=self.region,
            on_invoke=self._on_invoke,
        )
        self._pollers.append(poller)
        poller.start()

    def add_sqs_mapping(self, mapping: SqsMapping) -> None:
        self._start(mapping)

    def add_stream_mapping(self, mapping: StreamMapping) -> None:
        self._start(mapping)

    def delivery_queue(self, source: str, function: str) -> tuple[str, str]:
        """A private queue whose messages reach `function` as `source`'s event: (url, arn)."""
        digest = hashlib.sha256(f"{source}/{function}".encode()).hexdigest()[:10]
        name = f"relay-{source}-{function}"[:60] + f"-{digest}"
        sqs = self._client("sqs")
        url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
        arn = f"arn:aws:sqs:{self.region}:{self.account_id}:{name}"
        return url, arn

    def deliver_sns(self, topic_arn: str, function: str, attributes: dict[str, str]) -> str:
        """Subscribe `function` to a topic (filter policy kept); returns the subscription ARN."""
        url, arn = self.delivery_queue("sns", function)
        subscription = self._client("sns").subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=arn,
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        self._start(
            Delivery(url, function, "sns", lambda body: source_events.sns_event(body, subscription))
        )
        return str(subscription)

    def deliver_s3(self, function: str) -> str:
        """The queue ARN to put in a bucket's notification configuration for `function`."""
        url, arn = self.delivery_queue("s3", function)

        def to_event(body: str) -> dict[str, Any] | None:
            if source_events.is_s3_test_event(body):
                return None
            event: dict[str, Any] = json.loads(body)
            return event

        self._start(Delivery(url, function, "s3", to_event))
        return arn

    def deliver_events(self, function: str) -> str:
        """The queue ARN to use as an EventBridge rule target in place of `function`."""
        url, arn = self.delivery_queue("events", function)
        account = self.account_id

        def to_event(body: str) -> Any:
            event = json.loads(body)
            if isinstance(event, dict) and {"detail-type", "source"} <= event.keys():
                event.setdefault("account", account)  # moto's default input drops it
            return event

        self._start(Delivery(url, function, "events", to_event))
        return arn

    # -- schedules -----------------------------------------------------------------------

    def add_schedule(self, rule: ScheduledRule) -> None:
        with self._lock:
            self.rules[rule.name] = rule
            self._scheduler.add(rule.name, rule.schedule, self.now())
        self.loop.call_soon_threadsafe(self._wake.set)

    def find_rule(self, name: str) -> ScheduledRule:
        with self._lock:
            rules = list(self.rules.values())
        for rule in rules:
            if name in (rule.name, rule.arn, rule.path) or rule.path.rsplit("/", 1)[-1] == name:
                return rule
        known = ", ".join(sorted(r.path or r.name for r in rules)) or "none"
        raise UnknownRule(f"no schedule rule {name!r} in the emulator (scheduled rules: {known})")

    async def trigger(self, name: str) -> ScheduledRule:
        """Fire a schedule rule now, as if its time had come."""
        rule = self.find_rule(name)
        await self._fire(rule, self.now())
        return rule

    async def fire_due(self) -> list[tuple[str, datetime]]:
        with self._lock:
            fired = self._scheduler.pop_due(self.now())
        for name, when in fired:
            await self._fire(self.rules[name], when)
        return fired

    async def _fire(self, rule: ScheduledRule, when: datetime) -> None:
        rule.fired += 1
        event = source_events.scheduled_event(rule.arn, self.region, self.account_id, when)
        for target in rule.targets:
            payload: Any = event
            if target.input is not None:
                payload = json.loads(target.input)
            elif target.input_path:
                payload = _select(event, target.input_path)
            await self._deliver(rule, target, payload)

    async def _deliver(self, rule: ScheduledRule, target: RuleTarget, payload: Any) -> None:
        service = target.arn.split(":")[2] if target.arn.startswith("arn:") else ""
        if service == "lambda":
            name = target.arn.split(":")[6]
            for attempt in range(1, ASYNC_ATTEMPTS + 1):
                if self._on_invoke is not None:
                    self._on_invoke(name, f"schedule {rule.name}")
                outcome = await invoke_with_timeout(
                    self.functions,
                    name,
                    json.dumps(payload).encode(),
                    timeout=None,
                    where=f"schedule {rule.name}",
                )
                if outcome.result is not None and not outcome.result.function_error:
                    return
                log.warning(
                    "emulator: schedule %s → %s failed (attempt %d of %d)",
                    rule.name,
                    name,
                    attempt,
                    ASYNC_ATTEMPTS,
                )
        elif service == "sqs":
            queue = target.arn.split(":")[5]
            sqs = self._client("sqs")
            url = await asyncio.to_thread(lambda: sqs.get_queue_url(QueueName=queue)["QueueUrl"])
            await asyncio.to_thread(sqs.send_message, QueueUrl=url, MessageBody=json.dumps(payload))
        elif service == "sns":
            sns = self._client("sns")
            await asyncio.to_thread(sns.publish, TopicArn=target.arn, Message=json.dumps(payload))
        else:
            log.warning("emulator: schedule %s: target %s is not emulated", rule.name, target.arn)

    async def _run_schedules(self) -> None:
        while True:
            try:
                await self.fire_due()
            except Exception as exc:  # keep the clock running after any single failure
                log.warning("emulator: schedules: %s", exc)
            with self._lock:
                due = self._scheduler.next_due()
            wait = 1.0 if due is None else min(max((due - self.now()).total_seconds(), 0), 1.0)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    def start(self) -> None:
        self._task = self.loop.create_task(self._run_schedules())

    async def close(self) -> None:
        for poller in self._pollers:
            poller.stop()
        if self._task is not None:
            self._task.cancel()
        for poller in self._pollers:
            await asyncio.to_thread(poller.join, 3.0)
