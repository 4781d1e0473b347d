"""The floor of any tool that runs handlers in AWS's runtime client: stock awslambdaric
workers (`python -m awslambdaric handler.handler`, one per concurrent request, as Lambda
scales) behind the thinnest Runtime API server and HTTP front asyncio allows, on relay's
event loop. Nothing else: no live view, recording, console, reload, freshness check, REPORT
lines or error shapes; the event is a function URL's (same fields and size as relay's).

bench/peers.py runs it beside relay and the peers (`--runtime-floor PORTFILE`) so that every
run says what relay's own work costs above what its design cannot avoid, and whether a tool
built on awslambdaric could reach a peer at all.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import socket
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qsl

from relay import eventloop
from relay.link import http1

#: Lambda's limit for a synchronous response.
MAX_BODY = 6 * 1024 * 1024 + 100
PREFIX = "/2018-06-01/runtime/invocation/"


class Workers:
    """Idle runtimes waiting on /next, invocations waiting for one, results awaited."""

    def __init__(self, code: Path) -> None:
        self.code = code
        self.idle: collections.deque[RuntimeConnection] = collections.deque()
        self.waiting: collections.deque[tuple[str, bytes]] = collections.deque()
        self.results: dict[str, asyncio.Future[bytes]] = {}
        self.busy = 0
        self.started = 0
        self.processes: list[asyncio.subprocess.Process] = []
        self.spawning: set[asyncio.Task[None]] = set()

    async def spawn(self) -> None:
        self.started += 1
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: RuntimeConnection(self), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        env = {
            **os.environ,
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
            "AWS_LAMBDA_FUNCTION_NAME": "echo",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
            "AWS_REGION": "us-east-1",
        }
        self.processes.append(
            await asyncio.create_subprocess_exec(
                sys.executable, "-m", "awslambdaric", "handler.handler", cwd=self.code, env=env
            )
        )

    def invoke(self, event: bytes) -> asyncio.Future[bytes]:
        request_id = str(uuid.uuid4())
        result: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.results[request_id] = result
        self.busy += 1
        if self.idle:
            self.idle.popleft().send(request_id, event)
        else:
            self.waiting.append((request_id, event))
            if self.busy > self.started:  # every runtime is busy: one more, as Lambda
                task = asyncio.ensure_future(self.spawn())
                self.spawning.add(task)
                task.add_done_callback(self.spawning.discard)
        return result


class _Http(asyncio.Protocol):
    """One kept-alive HTTP/1.1 connection: each complete request to ``handle``."""

    def __init__(self, max_body: int = http1.MAX_BODY) -> None:
        self.parser = http1.RequestParser(max_body=max_body)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.parser.feed(data)
        while (request := self.parser.next()) is not None:
            self.handle(request)

    def handle(self, request: http1.Request) -> None:
        raise NotImplementedError


class RuntimeConnection(_Http):
    """/next and /response of one runtime (its own port, as relay gives each worker)."""

    def __init__(self, workers: Workers) -> None:
        super().__init__(MAX_BODY)
        self.workers = workers

    def handle(self, request: http1.Request) -> None:
        if request.target.endswith("/next"):
            if self.workers.waiting:
                self.send(*self.workers.waiting.popleft())
            else:
                self.workers.idle.append(self)
        else:  # /invocation/<id>/response
            request_id = request.target[len(PREFIX) :].split("/", 1)[0]
            self.workers.busy -= 1
            self.workers.results.pop(request_id).set_result(request.body)
            assert self.transport is not None
            self.transport.write(http1.encode_response(202, b"{}"))

    def send(self, request_id: str, event: bytes) -> None:
        deadline = str(int(time.time() * 1000) + 30_000)
        headers = [
            ("Content-Type", "application/json"),
            ("Lambda-Runtime-Aws-Request-Id", request_id),
            ("Lambda-Runtime-Deadline-Ms", deadline),
            ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:0:function:echo"),
            ("Lambda-Runtime-Trace-Id", f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}"),
        ]
        assert self.transport is not None
        self.transport.write(http1.encode_response(200, event, headers))


class Front(_Http):
    """A function URL: the request as a payload 2.0 event, the result as the response."""

    def __init__(self, workers: Workers, domain: str) -> None:
        super().__init__()
        self.workers = workers
        self.domain = domain

    def handle(self, request: http1.Request) -> None:
        event = json.dumps(self.event(request)).encode()
        self.workers.invoke(event).add_done_callback(self.answer)

    def event(self, request: http1.Request) -> dict[str, object]:
        path, _, query = request.target.partition("?")
        headers = {name.lower(): value for name, value in request.headers}
        headers.update({"x-forwarded-for": "127.0.0.1", "x-forwarded-proto": "http"})
        now = time.time()
        event: dict[str, object] = {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": query,
            "headers": headers,
        }
        if query:
            event["queryStringParameters"] = dict(parse_qsl(query))
        event["requestContext"] = {
            "accountId": "anonymous",
            "apiId": "floor0000000000000000000000000000",
            "domainName": self.domain,
            "domainPrefix": "floor0000000000000000000000000000",
            "http": {
                "method": request.method,
                "path": path,
                "protocol": request.version,
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        }
        event["isBase64Encoded"] = False
        return event

    def answer(self, done: asyncio.Future[bytes]) -> None:
        result = json.loads(done.result())
        body = str(result.get("body", "")).encode()
        headers = list((result.get("headers") or {}).items())
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(
                http1.encode_response(result.get("statusCode", 200), body, headers)
            )


async def serve(code: Path, port_file: Path) -> None:
    workers = Workers(code)
    await workers.spawn()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    domain = f"127.0.0.1:{port}"
    loop = asyncio.get_running_loop()
    await loop.create_server(lambda: Front(workers, domain), sock=sock)
    port_file.write_text(str(port))
    print("runtime floor ready", flush=True)
    await asyncio.Event().wait()


def main(code: Path, port_file: Path) -> None:
    eventloop.run(serve(code, port_file))
