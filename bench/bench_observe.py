"""What observe mode's wrapper adds to the cloud invocation when no relay client is connected.

    .venv/bin/python bench/bench_observe.py [--n 400]

On the embedded emulator (the stage's WebSocket API, connection table and connect handler
as `relay start` deploys them, but no client): one function runs the real handler alone, the
other the same handler wrapped by ``relay_observe`` with every invocation sampled
(``--sample 1``, the worst case). Calls alternate between the two through boto3's Lambda
Invoke, so load drifts hit both alike. The goal: the wrapper adds at most 5 ms (p50 and p90).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import boto3

from relay.cloud.stub_asset import build_stub_asset
from relay.emulator import Emulator
from relay.observe import HANDLER
from relay.observe.layer import build_observe_layer
from relay.runtime import FunctionConfig
from relay.stub_lambda import connect

GOAL_MS = 5.0
STAGE = "bench"
CODE = """
def handler(event, context):
    total = sum(item["qty"] * item["price"] for item in event["items"])
    return {"total": total, "currency": "EUR", "lines": len(event["items"])}
"""
EVENT = json.dumps({"items": [{"qty": n % 5 + 1, "price": n} for n in range(40)]}).encode()


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=400, help="invocations per function")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Emulator() as emu:
        root = Path(tmp)
        code = root / "code"
        code.mkdir()
        (code / "pricing.py").write_text(CODE)
        asset = build_stub_asset(root / "cache")
        layer = build_observe_layer(root / "cache")
        credentials = emu.credentials
        session = boto3.Session(
            aws_access_key_id=credentials.access_key,
            aws_secret_access_key=credentials.secret_key,
            region_name=emu.region,
        )
        table = f"relay-{STAGE}-connections"
        session.client("dynamodb", endpoint_url=emu.endpoint_url).create_table(
            TableName=table, **connect.TABLE_LAYOUT
        )
        api = emu.create_websocket_api(
            f"relay-{STAGE}",
            routes={"$connect": "connect", "$disconnect": "connect", "$default": "connect"},
        )
        emu.create_function(
            FunctionConfig(
                name="connect",
                handler="connect.handler",
                code_dir=asset,
                timeout=10,
                environment={
                    "RELAY_TABLE": table,
                    "RELAY_STAGE": STAGE,
                    "RELAY_CONNECTIONS_ENDPOINT": api.connections_endpoint,
                    "RELAY_CLIENT_PRINCIPAL": emu.local_principal_arn,
                },
            )
        )
        emu.create_function(FunctionConfig(name="plain", handler="pricing.handler", code_dir=code))
        emu.create_function(
            FunctionConfig(
                name="observed",
                handler=HANDLER,
                code_dir=code,
                layers=(layer,),
                environment={
                    "RELAY_STAGE": STAGE,
                    "RELAY_WS_URL": api.websocket_url,
                    "RELAY_CONNECTIONS_ENDPOINT": api.connections_endpoint,
                    "RELAY_ORIGINAL_HANDLER": "pricing.handler",
                    "RELAY_OBSERVE_SAMPLE": "1",
                },
            )
        )
        client = session.client(
            "lambda",
            endpoint_url=emu.lambda_endpoint,
            config=Config(retries={"max_attempts": 0}, read_timeout=60),
        )

        def call(name: str) -> float:
            started = time.perf_counter()
            reply = client.invoke(FunctionName=name, Payload=EVENT)
            body = reply["Payload"].read()
            took = time.perf_counter() - started
            if "FunctionError" in reply or json.loads(body)["lines"] != 40:
                raise SystemExit(f"{name} answered wrongly: {body[:200]!r}")
            return took

        for _ in range(30):  # warm both (imports, the wrapper's first no-client hello)
            call("plain")
            call("observed")
        plain: list[float] = []
        observed: list[float] = []
        for i in range(args.n):
            first, second = ("plain", "observed") if i % 2 else ("observed", "plain")
            results = {first: call(first), second: call(second)}
            plain.append(results["plain"])
            observed.append(results["observed"])
    print(f"observe wrapper, no client connected, {args.n} invocations each (boto3 Invoke)")
    print(f"{'':>10} {'p50 ms':>8} {'p90 ms':>8} {'mean ms':>8}")
    for label, samples in (("plain", plain), ("observed", observed)):
        print(
            f"{label:>10} {percentile(samples, 0.5):8.2f} {percentile(samples, 0.9):8.2f} "
            f"{statistics.mean(samples) * 1000:8.2f}"
        )
    added50 = percentile(observed, 0.5) - percentile(plain, 0.5)
    added90 = percentile(observed, 0.9) - percentile(plain, 0.9)
    ok = added50 <= GOAL_MS and added90 <= GOAL_MS
    print(
        f"added: p50 {added50:+.2f} ms, p90 {added90:+.2f} ms "
        f"(goal <= {GOAL_MS:.0f} ms): {'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
