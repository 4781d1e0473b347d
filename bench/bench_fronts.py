"""Front doors through the emulator, against a direct Invoke in the same run.

    .venv/bin/python bench/bench_fronts.py [--n 300] [--sqs 100]

1. One request through a REST API (proxy integration, event 1.0 + response mapping) and an
   HTTP API (payload 2.0) to the same function, each over a keep-alive connection, against
   Lambda Invoke of that function (boto3, the way an SDK calls it) and against the
   function's URL over keep-alive (the same HTTP server and runtime path with the simplest
   event). Rounds are interleaved so drift hits all alike.
2. SQS message to handler start: send_message (boto3) until the handler's first line runs,
   measured by the handler from the time carried in the body, through an event source
   mapping (long poll on moto's SQS).
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from relay.emulator import Emulator
from relay.emulator.fronts.http_api import HttpApiSpec, HttpRoute
from relay.emulator.fronts.pollers import SqsMapping
from relay.emulator.fronts.rest_api import Integration, Method, RestApiSpec
from relay.runtime import FunctionConfig

HANDLER = """
import json, os, time
import boto3

_sqs = None

def handler(event, context):
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}

def on_message(event, context):
    started = time.time()
    global _sqs
    _sqs = _sqs or boto3.client("sqs")
    for record in event["Records"]:
        sent = json.loads(record["body"])["sent"]
        _sqs.send_message(QueueUrl=os.environ["RESULTS"], MessageBody=str(started - sent))
"""


def pct(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[max(int(len(ordered) * 0.99) - 1, 0)] * 1000


class KeepAlive:
    """One persistent HTTP/1.1 connection, like a browser or an HTTP client library."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        self.base = parts.path.rstrip("/")

    def __call__(self, method: str, path: str, body: bytes | None = None) -> None:
        self.conn.request(method, self.base + path, body=body)
        response = self.conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: {response.status}")


def interleaved(n: int, calls: dict[str, Callable[[], object]], warmup: int = 30) -> dict:
    for fn in calls.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(n):
        for name, fn in calls.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--sqs", type=int, default=100)
    args = parser.parse_args()
    code = Path(tempfile.mkdtemp(prefix="relay-bench-fronts-"))
    (code / "app.py").write_text(HANDLER)
    with Emulator(function_concurrency=2) as emu:
        url = emu.create_function(
            FunctionConfig("front", "app.handler", code, timeout=10), url=True
        ).function_url
        assert url is not None
        rest = emu.create_rest_api(
            RestApiSpec(
                "bench",
                "prod",
                {"/items/{id}": {"GET": Method("GET", Integration("AWS_PROXY", "front"))}},
            )
        )
        http_api = emu.create_http_api(
            HttpApiSpec("bench", [HttpRoute("GET /items/{id}", "front")])
        )
        lam = boto3.client(
            "lambda",
            endpoint_url=emu.lambda_endpoint,
            region_name=emu.region,
            config=Config(retries={"max_attempts": 0}),
            **emu.credentials.boto3_kwargs(),
        )
        url_call = KeepAlive(url)
        rest_call, http_call = KeepAlive(rest.url), KeepAlive(http_api.url)
        samples = interleaved(
            args.n,
            {
                "Lambda Invoke (boto3)": lambda: lam.invoke(FunctionName="front", Payload=b"{}"),
                "function URL GET /items/7": lambda: url_call("GET", "/items/7"),
                "REST API GET /prod/items/7": lambda: rest_call("GET", "/items/7"),
                "HTTP API GET /items/7": lambda: http_call("GET", "/items/7"),
            },
        )
        base = statistics.median(samples["Lambda Invoke (boto3)"])
        print(f"n={args.n} interleaved rounds; the function answers at once")
        for name, values in samples.items():
            p50, p99 = pct(values)
            ratio = statistics.median(values) / base
            print(f"  {name:34s} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  ({ratio:.2f}x Invoke)")

        sqs = emu.service_client("sqs")
        source = sqs.create_queue(QueueName="bench-source")["QueueUrl"]
        results = sqs.create_queue(QueueName="bench-results")["QueueUrl"]
        emu.create_function(
            FunctionConfig(
                "consumer", "app.on_message", code, timeout=10, environment={"RESULTS": results}
            )
        )
        arn = f"arn:aws:sqs:{emu.region}:{emu.account_id}:bench-source"
        emu.event_sources.add_sqs_mapping(SqsMapping(source, arn, "consumer", batch_size=1))
        latencies: list[float] = []
        for i in range(args.sqs + 5):
            sqs.send_message(QueueUrl=source, MessageBody=json.dumps({"sent": time.time()}))
            deadline = time.monotonic() + 30
            while True:
                got = sqs.receive_message(QueueUrl=results, WaitTimeSeconds=1).get("Messages", [])
                if got:
                    sqs.delete_message(QueueUrl=results, ReceiptHandle=got[0]["ReceiptHandle"])
                    if i >= 5:  # the first few warm the worker and boto3 in it
                        latencies.append(float(got[0]["Body"]))
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("no result from the SQS consumer within 30 s")
        p50, p99 = pct(latencies)
        print(
            f"SQS send_message → handler start (n={len(latencies)}, batch size 1): "
            f"p50 {p50:.2f} ms  p99 {p99:.2f} ms"
        )


if __name__ == "__main__":
    main()
