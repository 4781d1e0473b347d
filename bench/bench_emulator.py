"""Benchmark the emulator's hot paths against peers measured in the same run.

    .venv/bin/python bench/bench_emulator.py [--n 300]

1. PostToConnection round trip (boto3 call + delivery on the socket) vs the same boto3 call
   against moto's server, whose apigatewaymanagementapi only records the post.
2. A WebSocket message hop (client → $default → function → reply on the socket) vs
   LocalRuntime.invoke alone, and vs a bare websockets echo.
3. Lambda Invoke through boto3 and through a raw keep-alive HTTP request vs LocalRuntime.invoke.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import boto3
from botocore.config import Config
from websockets.asyncio.server import serve
from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from relay.emulator import Emulator, Route
from relay.runtime import FunctionConfig, LocalRuntime

HANDLER = """
def handler(event, context):
    # On the WebSocket route: answer with the caller's connection id (two-way route).
    request = event.get("requestContext") or {}
    return {"statusCode": 200, "body": request.get("connectionId", "ok")}
"""


def stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.99) - 1] * 1000


def timed(n: int, fn: Callable[[], object], warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def line(label: str, samples: list[float], baseline: list[float] | None = None) -> None:
    p50, p99 = stats(samples)
    ratio = ""
    if baseline is not None:
        ratio = f"  ({p50 / stats(baseline)[0]:.2f}x baseline p50)"
    print(f"{label:<58} p50 {p50:7.3f} ms  p99 {p99:7.3f} ms{ratio}")


def runtime_alone(code_dir: Path, n: int) -> list[float]:
    async def go() -> list[float]:
        async with LocalRuntime(max_workers=1, watch=False) as runtime:
            runtime.configure(FunctionConfig(name="f", handler="app.handler", code_dir=code_dir))
            for _ in range(20):
                await runtime.invoke("f", b"{}")
            samples = []
            for _ in range(n):
                start = time.perf_counter()
                await runtime.invoke("f", b"{}")
                samples.append(time.perf_counter() - start)
            return samples

    return asyncio.run(go())


def bare_echo(n: int) -> list[float]:
    import threading

    ready, stop = threading.Event(), None
    port_box: list[int] = []

    async def server() -> None:
        nonlocal stop
        stop = asyncio.get_running_loop().create_future()

        async def echo(ws) -> None:
            async for message in ws:
                await ws.send(message)

        async with serve(echo, "127.0.0.1", 0, compression=None) as srv:
            port_box.append(srv.sockets[0].getsockname()[1])
            ready.set()
            await stop

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server(),))
    thread.start()
    ready.wait()
    try:
        with connect(f"ws://127.0.0.1:{port_box[0]}", compression=None) as ws:
            return timed(n, lambda: (ws.send("x" * 100), ws.recv()))
    finally:
        loop.call_soon_threadsafe(stop.set_result, None)  # type: ignore[union-attr]
        thread.join()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    n = parser.parse_args().n
    code_dir = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    (code_dir / "app.py").write_text(HANDLER)
    config = Config(retries={"max_attempts": 0})

    print(f"relay emulator benchmark, n={n} per measurement (loopback, this machine)")
    alone = runtime_alone(code_dir, n)
    echo = bare_echo(n)
    with Emulator() as emu:
        creds = emu.credentials.boto3_kwargs()
        emu.create_function(FunctionConfig(name="f", handler="app.handler", code_dir=code_dir))
        api = emu.create_websocket_api("bench", {"$default": Route("f", return_response=True)})
        from tests.emulator.conftest import signed_headers  # type: ignore[import-not-found]

        manager = boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=api.connections_endpoint,
            region_name=emu.region,
            config=config,
            **creds,
        )
        moto_manager = boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=emu.endpoints["s3"],  # moto server (one port for all services)
            region_name=emu.region,
            config=config,
            **creds,
        )
        lam = boto3.client(
            "lambda", endpoint_url=emu.lambda_endpoint, region_name=emu.region, config=config,
            **creds,
        )  # fmt: skip
        with connect(
            api.websocket_url,
            additional_headers=signed_headers(api.websocket_url, emu.credentials),
            compression=None,
        ) as ws:
            ws.send("who am i")
            connection_id = ws.recv()

            def post() -> None:
                manager.post_to_connection(ConnectionId=connection_id, Data=b'{"x":1}')
                ws.recv()

            moto_post = timed(n, lambda: moto_manager.post_to_connection(
                ConnectionId="abc", Data=b'{"x":1}'))  # fmt: skip
            posts = timed(n, post)
            hops = timed(n, lambda: (ws.send('{"m":1}'), ws.recv()))

        invokes = timed(n, lambda: lam.invoke(FunctionName="f", Payload=b"{}")["Payload"].read())
        port = int(emu.lambda_endpoint.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port)
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        signer = SigV4Auth(Credentials(*emu.credentials[:2]), "lambda", emu.region)

        def raw_invoke() -> None:
            request = AWSRequest(
                "POST", f"{emu.lambda_endpoint}/2015-03-31/functions/f/invocations", data=b"{}"
            )
            signer.add_auth(request)
            conn.request("POST", "/2015-03-31/functions/f/invocations", b"{}",
                         dict(request.headers.items()))  # fmt: skip
            response = conn.getresponse()
            response.read()
            assert response.status == 200

        raw = timed(n, raw_invoke)
        calls = json.dumps(dict(emu.calls))

    line("LocalRuntime.invoke alone (baseline for 3 and 4)", alone)
    line("bare websockets echo, 100 B (baseline for 2)", echo)
    line("boto3 PostToConnection on moto's server (baseline for 1)", moto_post)
    line("1. boto3 PostToConnection + delivery on the socket", posts, moto_post)
    line("2. WebSocket message hop via $default function", hops, alone)
    line("3. Lambda Invoke via boto3", invokes, alone)
    line("4. Lambda Invoke via signed raw keep-alive HTTP", raw, alone)
    base = stats(alone)[0]
    print(
        f"   Invoke overhead over the runtime, p50: boto3 {stats(invokes)[0] - base:.3f} ms, "
        f"raw HTTP {stats(raw)[0] - base:.3f} ms"
    )
    print(f"   operations counted by the emulator: {calls}")


if __name__ == "__main__":
    main()
