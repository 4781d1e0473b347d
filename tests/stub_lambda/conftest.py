"""Real parts for the stub tests: moto's server (DynamoDB, S3) and a recording @connections."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import boto3
import pytest
from moto.server import ThreadedMotoServer

from relay.stub_lambda import connect


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, moto_url: str) -> str:
    """Environment a function sees: fake credentials, moto endpoints (as the emulator sets)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_url)
    return moto_url


@pytest.fixture
def relay_table(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh connection table with the schema of relay.cdk.debug_stack."""
    name = f"relay-{uuid.uuid4().hex[:8]}"
    boto3.client("dynamodb").create_table(TableName=name, **connect.TABLE_LAYOUT)
    monkeypatch.setenv("RELAY_TABLE", name)
    return name


@dataclass
class Connections:
    """A tiny @connections endpoint that records posts and answers 410 for gone ids."""

    url: str
    posts: list[tuple[str, bytes]] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)

    def messages(self, connection_id: str) -> list[dict]:
        return [json.loads(data) for cid, data in self.posts if cid == connection_id]


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[Connections]:
    record = Connections(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            connection_id = unquote(self.path.rsplit("/@connections/", 1)[1])
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if connection_id in record.gone:
                reply, status = b'{"message": "gone"}', 410
                self.send_response(status)
                self.send_header("x-amzn-ErrorType", "GoneException")
            else:
                record.posts.append((connection_id, body))
                reply = b"{}"
                self.send_response(200)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    record.url = f"http://127.0.0.1:{server.server_port}/dev"
    monkeypatch.setenv("RELAY_CONNECTIONS_ENDPOINT", record.url)
    yield record
    server.shutdown()
    server.server_close()
    thread.join()
