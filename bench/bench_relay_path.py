"""Benchmark the relay path (stub -> gateway -> RelayClient -> local runtime -> stub) against
the same handler run by the local runtime alone and as a plain emulator function, all
measured in the same run.

    .venv/bin/python bench/bench_relay_path.py [--n 300] [--callers 32]

Processes are laid out as `relay start --local` lays them out: the emulator in one process,
the relay client in another, and the callers in this one, so no two of them share a GIL.
Callers are raw keep-alive HTTP requests signed once with botocore (the emulator verifies
the signature on every request, as Lambda does), so that the callers' own CPU does not
dominate a 2-core machine; the same figures through boto3 are printed beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from relay.link import http1  # noqa: E402
from relay.runtime import FunctionConfig, LocalRuntime  # noqa: E402

STAGE, REGION = "bench", "us-east-1"
HANDLER = """
def echo(event, context):
    return event

def big(event, context):
    return {"data": "x" * event["size"], "got": len(event.get("blob", ""))}
"""
GOALS = {"p50": 3.0, "p99": 15.0, "rate": 500.0, "big": 1000.0, "calls": 2}
SST = (
    "SST v1 Live Lambda: about 5 service operations per invocation (2 bridge Lambdas, "
    "a DynamoDB read, 2 posts); users report 503s from 4 concurrent requests (sst#2315)"
)


def stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000


# -- the emulator process -------------------------------------------------------------------


def run_emulator(workdir: Path) -> None:
    """Provision the bench stage, print its endpoints, answer `calls` until stdin closes."""
    import logging

    from relay.cloud.stub_asset import build_stub_asset
    from relay.emulator import Emulator
    from relay.stub_lambda import connect

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    code = workdir / "code"
    asset = build_stub_asset(workdir / "cache")
    with Emulator(function_concurrency=32) as emu:
        kwargs = emu.credentials.boto3_kwargs()
        endpoints = emu.endpoints
        boto3.client(
            "dynamodb", endpoint_url=endpoints["dynamodb"], region_name=REGION, **kwargs
        ).create_table(TableName="relay-bench", **connect.TABLE_LAYOUT)
        boto3.client(
            "s3", endpoint_url=endpoints["s3"], region_name=REGION, **kwargs
        ).create_bucket(Bucket="relay-bench")
        api = emu.create_websocket_api(
            "relay-bench",
            {"$connect": "connect", "$disconnect": "connect", "$default": "connect"},
            stage=STAGE,
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
                environment={
                    **relay_env,
                    "RELAY_TABLE": "relay-bench",
                    "RELAY_CLIENT_PRINCIPAL": emu.local_principal_arn,
                },
                timeout=10,
            )
        )
        for name in ("echo", "big"):
            emu.create_function(
                FunctionConfig(name, "stub.handler", asset, environment=relay_env, timeout=30)
            )
        emu.create_function(FunctionConfig("direct-echo", "handlers.echo", code, timeout=30))
        print(
            json.dumps(
                {
                    "lambda": emu.lambda_endpoint,
                    "s3": endpoints["s3"],
                    "websocket_url": api.websocket_url,
                    "connections_endpoint": api.connections_endpoint,
                    "credentials": list(emu.credentials),
                }
            ),
            flush=True,
        )
        for command in sys.stdin:
            if command.strip() == "calls":
                print(json.dumps(dict(emu.calls)), flush=True)


# -- the client process ---------------------------------------------------------------------


def run_client(workdir: Path, info: dict[str, Any]) -> None:
    """A RelayClient as `relay start` runs it; prints `connected`, stops when stdin closes."""
    from relay.client import RelayClient

    access, secret, token = info["credentials"]
    session = boto3.Session(
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        aws_session_token=token,
        region_name=REGION,
    )
    code = workdir / "code"
    runtime = LocalRuntime(max_workers=8, spares=0, watch=False)
    functions = {n: FunctionConfig(n, f"handlers.{n}", code, timeout=30) for n in ("echo", "big")}
    client = RelayClient(
        stage=STAGE,
        websocket_url=info["websocket_url"],
        connections_endpoint=info["connections_endpoint"],
        session=session,
        runtime=runtime,
        functions=functions,
        region=REGION,
        s3_endpoint=info["s3"],
        on_connected=lambda _id: print("connected", flush=True),
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stdin_closed = loop.run_in_executor(None, sys.stdin.read)
        stdin_closed.add_done_callback(lambda _f: loop.create_task(client.stop()))
        async with runtime:
            await client.run()

    asyncio.run(main())


# -- callers ---------------------------------------------------------------------------------


class SignedInvoke:
    """One Invoke request, signed once by botocore, replayed on keep-alive connections.

    A SigV4 signature stays valid for 5 minutes, and the emulator still verifies it on every
    request; this keeps boto3's ~1 ms of CPU per call out of the figures.
    """

    def __init__(self, endpoint: str, credentials: list[str | None], name: str, body: bytes):
        parts = urlsplit(endpoint)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        path = f"/2015-03-31/functions/{name}/invocations"
        request = AWSRequest(method="POST", url=f"{endpoint}{path}", data=body)
        SigV4Auth(Credentials(*credentials), "lambda", REGION).add_auth(request)
        signed = [(k, v) for k, v in request.headers.items() if k.lower() != "host"]
        self.data = http1.encode_request("POST", path, signed, body, host=parts.netloc)

    async def connect(self) -> Callable[[], Awaitable[bytes]]:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        parser = http1.ResponseParser()

        async def call() -> bytes:
            writer.write(self.data)
            while (response := parser.next()) is None:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionResetError("the emulator closed the connection")
                parser.feed(data)
            if response.status != 200 or response.header("x-amz-function-error"):
                raise RuntimeError(f"{response.status} {response.reason}: {response.body[:300]!r}")
            return response.body

        return call


async def sequential(
    call: Callable[[], Awaitable[object]], n: int, warmup: int = 30
) -> list[float]:
    for _ in range(warmup):
        await call()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return samples


async def raw_rate(signed: SignedInvoke, callers: int, total: int) -> float:
    calls = [await signed.connect() for _ in range(callers)]
    per_caller = total // callers

    async def run(call: Callable[[], Awaitable[bytes]], count: int) -> None:
        for _ in range(count):
            await call()

    await asyncio.gather(*(run(call, 3) for call in calls))  # one warm environment each
    start = time.perf_counter()
    await asyncio.gather(*(run(call, per_caller) for call in calls))
    return per_caller * callers / (time.perf_counter() - start)


async def runtime_alone(code: Path, n: int) -> list[float]:
    async with LocalRuntime(max_workers=1, spares=0, watch=False) as runtime:
        runtime.configure(FunctionConfig("echo", "handlers.echo", code, timeout=30))
        return await sequential(lambda: runtime.invoke("echo", b'{"k": 1}'), n)


def boto3_rate(lam: Any, name: str, callers: int, total: int) -> float:
    def call(_i: int) -> None:
        reply = lam.invoke(FunctionName=name, Payload=b'{"k": 1}')
        body = reply["Payload"].read()
        if "FunctionError" in reply:
            raise RuntimeError(body[:300])

    with ThreadPoolExecutor(callers) as pool:
        list(pool.map(call, range(callers * 2)))
        start = time.perf_counter()
        list(pool.map(call, range(total)))
        return total / (time.perf_counter() - start)


# -- the run -------------------------------------------------------------------------------


def spawn(role: str, workdir: Path, info: dict[str, Any] | None = None) -> subprocess.Popen[str]:
    args = [sys.executable, __file__, "--role", role, "--workdir", str(workdir)]
    if info is not None:
        args += ["--info", json.dumps(info)]
    return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def read_line(proc: subprocess.Popen[str], timeout: float = 120) -> str:
    """A line from a child, or a clear failure if it exits or stalls first."""
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()))  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    if not result or not result[0]:
        raise RuntimeError(f"benchmark child {proc.args[3]} gave no answer (exit {proc.poll()})")
    return result[0]


def report(args: argparse.Namespace, workdir: Path) -> None:
    emulator = spawn("emulator", workdir)
    client = None
    try:
        info = json.loads(read_line(emulator))
        client = spawn("client", workdir, info)
        if read_line(client).strip() != "connected":
            raise RuntimeError("the relay client did not connect")
        lam = boto3.client(
            "lambda",
            endpoint_url=info["lambda"],
            region_name=REGION,
            config=Config(retries={"max_attempts": 0}, max_pool_connections=64),
            aws_access_key_id=info["credentials"][0],
            aws_secret_access_key=info["credentials"][1],
            aws_session_token=info["credentials"][2],
        )

        async def latencies() -> dict[str, list[float]]:
            out = {"runtime": await runtime_alone(workdir / "code", args.n)}
            for name in ("direct-echo", "echo"):
                signed = SignedInvoke(info["lambda"], info["credentials"], name, b'{"k": 1}')
                out[name] = await sequential(await signed.connect(), args.n)
            return out

        samples = asyncio.run(latencies())
        alone, direct, relayed = (stats(samples[k]) for k in ("runtime", "direct-echo", "echo"))
        print(
            f"latency, sequential raw signed Invoke, n={args.n} (goal: relay adds p50 <= "
            f"{GOALS['p50']:.0f} ms, p99 <= {GOALS['p99']:.0f} ms)"
        )
        print(
            f"  local runtime alone (LocalRuntime.invoke)  p50 {alone[0]:6.2f} ms  "
            f"p99 {alone[1]:6.2f} ms"
        )
        print(
            f"  plain emulator function (Invoke)           p50 {direct[0]:6.2f} ms  "
            f"p99 {direct[1]:6.2f} ms"
        )
        print(
            f"  relayed function (Invoke -> stub -> relay) p50 {relayed[0]:6.2f} ms  "
            f"p99 {relayed[1]:6.2f} ms"
        )
        print(
            f"  relay adds over the local runtime alone:   p50 {relayed[0] - alone[0]:6.2f} ms"
            f"  p99 {relayed[1] - alone[1]:6.2f} ms  ({relayed[0] / alone[0]:.1f}x p50)"
        )
        print(
            f"  relay adds over a plain emulator function: p50 {relayed[0] - direct[0]:6.2f} "
            f"ms  p99 {relayed[1] - direct[1]:6.2f} ms  ({relayed[0] / direct[0]:.2f}x p50)"
        )

        emulator.stdin.write("calls\n")  # type: ignore[union-attr]
        emulator.stdin.flush()  # type: ignore[union-attr]
        before = json.loads(read_line(emulator))
        lam.invoke(FunctionName="echo", Payload=b'{"k": 1}')["Payload"].read()
        emulator.stdin.write("calls\n")  # type: ignore[union-attr]
        emulator.stdin.flush()  # type: ignore[union-attr]
        after = json.loads(read_line(emulator))
        spent = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}
        spent.pop("Invoke", None)  # the caller's own call, not relay's
        print(
            f"AWS calls per warm invocation, counted by the emulator: {sum(spent.values())} "
            f"{spent} (goal {GOALS['calls']}; SST v1 about 5)"
        )

        total = args.callers * 40
        print(
            f"throughput, {args.callers} concurrent callers, {total} invocations "
            f"(goal >= {GOALS['rate']:.0f}/s relayed on 2 cores)"
        )
        for name in ("direct-echo", "echo"):
            signed = SignedInvoke(info["lambda"], info["credentials"], name, b'{"k": 1}')
            raw = asyncio.run(raw_rate(signed, args.callers, total))
            via_boto3 = boto3_rate(lam, name, args.callers, total // 2)
            label = "plain emulator function" if name == "direct-echo" else "relayed function"
            print(
                f"  {label:24s} raw signed callers {raw:6.0f}/s   boto3 callers {via_boto3:6.0f}/s"
            )

        size = 6 * 1024 * 1024 - 8192
        payload = json.dumps({"size": size, "blob": "y" * size}).encode()

        def big() -> None:
            reply = lam.invoke(FunctionName="big", Payload=payload)
            body = reply["Payload"].read()
            if "FunctionError" in reply or len(body) < size:
                raise RuntimeError(body[:300])

        big()
        rounds = []
        for _ in range(3):
            start = time.perf_counter()
            big()
            rounds.append(time.perf_counter() - start)
        print(
            f"6 MB request + 6 MB response through the overflow bucket (boto3): p50 "
            f"{statistics.median(rounds) * 1000:.0f} ms (goal <= {GOALS['big']:.0f} ms)"
        )
        print(SST)
    finally:
        for child in (client, emulator):
            if child is not None:
                child.stdin.close()  # type: ignore[union-attr]
        for child in (client, emulator):
            if child is not None:
                try:
                    child.wait(60)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--callers", type=int, default=32)
    parser.add_argument("--role", choices=("emulator", "client"), help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--info", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "emulator":
        run_emulator(args.workdir)
    elif args.role == "client":
        run_client(args.workdir, json.loads(args.info))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            (workdir / "code").mkdir()
            (workdir / "code" / "handlers.py").write_text(HANDLER)
            os.environ.setdefault("RELAY_CACHE_DIR", str(workdir / "cache"))
            report(args, workdir)


if __name__ == "__main__":
    main()
