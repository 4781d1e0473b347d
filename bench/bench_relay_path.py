"""Benchmark the relay path (stub -> gateway -> RelayClient -> local runtime -> stub) against
the same handler invoked directly in the emulator, measured in the same run.

    .venv/bin/python bench/bench_relay_path.py [--n 300] [--callers 32]

Prints p50/p99 of Lambda Invoke (boto3) on a relayed function vs the same handler created as
a plain emulator function (the difference is what relay adds), throughput with N concurrent
callers, a 6 MB request+response round trip, and AWS calls per warm invocation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from relay.client import RelayClient
from relay.emulator import Emulator
from relay.runtime import FunctionConfig, LocalRuntime
from relay.stub_asset import build_stub_asset

STAGE, REGION = "bench", "us-east-1"
HANDLER = """
def echo(event, context):
    return event

def big(event, context):
    return {"data": "x" * event["size"], "got": len(event.get("blob", ""))}
"""


def stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000


def timed(n: int, fn: Callable[[], object], warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def provision(emu: Emulator, code: Path, asset: Path) -> None:
    kwargs = emu.credentials.boto3_kwargs()
    endpoints = emu.endpoints
    boto3.client(
        "dynamodb", endpoint_url=endpoints["dynamodb"], region_name=REGION, **kwargs
    ).create_table(
        TableName="relay-bench",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    boto3.client("s3", endpoint_url=endpoints["s3"], region_name=REGION, **kwargs).create_bucket(
        Bucket="relay-bench"
    )
    api = emu.create_websocket_api(
        "relay-bench", {"$connect": "connect", "$disconnect": "connect", "$default": "connect"}
    )
    relay_env = {
        "RELAY_STAGE": STAGE,
        "RELAY_WS_URL": api.websocket_url,
        "RELAY_CONNECTIONS_ENDPOINT": api.connections_endpoint,
        "RELAY_BUCKET": "relay-bench",
    }
    emu.create_function(
        FunctionConfig(
            "connect",
            "connect.handler",
            asset,
            environment={**relay_env, "RELAY_TABLE": "relay-bench"},
            timeout=10,
        )
    )
    for name in ("echo", "big"):
        emu.create_function(
            FunctionConfig(name, "stub.handler", asset, environment=relay_env, timeout=30)
        )
    emu.create_function(FunctionConfig("direct-echo", "handlers.echo", code, timeout=30))
    emu.extra = api  # type: ignore[attr-defined]


def start_client(emu: Emulator, code: Path) -> tuple[RelayClient, Callable[[], None]]:
    """Run a RelayClient on its own loop in a thread, as `relay start` would."""
    api = emu.extra  # type: ignore[attr-defined]
    c = emu.credentials
    session = boto3.Session(
        aws_access_key_id=c.access_key,
        aws_secret_access_key=c.secret_key,
        aws_session_token=c.session_token,
        region_name=REGION,
    )
    loop = asyncio.new_event_loop()
    runtime = LocalRuntime(max_workers=8, spares=0, watch=False)
    ready = threading.Event()
    functions = {n: FunctionConfig(n, f"handlers.{n}", code, timeout=30) for n in ("echo", "big")}
    client = RelayClient(
        stage=STAGE,
        websocket_url=api.websocket_url,
        connections_endpoint=api.connections_endpoint,
        session=session,
        runtime=runtime,
        functions=functions,
        region=REGION,
        s3_endpoint=emu.endpoints["s3"],
        on_connected=lambda _id: ready.set(),
    )

    async def main() -> None:
        async with runtime:
            await client.run()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    ready.wait(30)

    def stop() -> None:
        asyncio.run_coroutine_threadsafe(client.stop(), loop).result(30)
        thread.join(30)

    return client, stop


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--callers", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Emulator(function_concurrency=32) as emu:
        code = Path(tmp) / "code"
        code.mkdir()
        (code / "handlers.py").write_text(HANDLER)
        provision(emu, code, build_stub_asset(Path(tmp) / "cache"))
        _, stop = start_client(emu, code)
        try:
            lam = boto3.client(
                "lambda",
                endpoint_url=emu.lambda_endpoint,
                region_name=REGION,
                config=Config(retries={"max_attempts": 0}, max_pool_connections=64),
                **emu.credentials.boto3_kwargs(),
            )

            def call(name: str, payload: bytes = b'{"k": 1}') -> bytes:
                reply = lam.invoke(FunctionName=name, Payload=payload)
                body = reply["Payload"].read()
                if "FunctionError" in reply:
                    raise RuntimeError(body[:300])
                return body

            direct = timed(args.n, lambda: call("direct-echo"))
            relayed = timed(args.n, lambda: call("echo"))
            d50, d99 = stats(direct)
            r50, r99 = stats(relayed)
            print(f"Invoke, direct emulator function   p50 {d50:6.2f} ms  p99 {d99:6.2f} ms")
            print(
                f"Invoke, relayed (stub+client)      p50 {r50:6.2f} ms  p99 {r99:6.2f} ms  "
                f"({r50 / d50:.2f}x; relay adds p50 {r50 - d50:.2f} ms, p99 {r99 - d99:.2f} ms)"
            )

            before = emu.calls.copy()
            call("echo")
            spent = emu.calls - before
            aws = {k: v for k, v in spent.items() if k not in ("Invoke",)}
            print(f"AWS calls per warm invocation: {sum(aws.values())} {dict(aws)}")

            total = args.callers * 20
            with ThreadPoolExecutor(args.callers) as pool:
                for name in ("direct-echo", "echo"):
                    # Warm one execution environment per caller first (cold starts excluded).
                    list(pool.map(lambda _i, n=name: call(n), range(args.callers * 2)))
                    start = time.perf_counter()
                    list(pool.map(lambda _i, n=name: call(n), range(total)))
                    rate = total / (time.perf_counter() - start)
                    print(f"{args.callers} callers, {name:12s}: {rate:7.0f} invocations/s")

            size = 6 * 1024 * 1024 - 8192
            payload = json.dumps({"size": size, "blob": "y" * size}).encode()
            samples = timed(3, lambda: call("big", payload), warmup=1)
            print(f"6 MB request + 6 MB response through overflow: p50 {stats(samples)[0]:.0f} ms")
        finally:
            stop()


if __name__ == "__main__":
    main()
