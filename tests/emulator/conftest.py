"""One emulator for the emulator tests (starting one costs ~0.2 s plus function cold starts),
with the fixture functions of tests/emulator/fixtures/handlers.py created in it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials as BotocoreCredentials

from relay.emulator import Credentials, Emulator
from relay.runtime import FunctionConfig

FIXTURES = Path(__file__).parent / "fixtures"
RECORD_BUCKET = "relay-test-events"
REGION = "us-east-1"


def config(name: str, handler: str, **kwargs: Any) -> FunctionConfig:
    return FunctionConfig(
        name=name,
        handler=f"handlers.{handler}",
        code_dir=FIXTURES,
        environment={"RECORD_BUCKET": RECORD_BUCKET},
        **kwargs,
    )


@pytest.fixture(scope="session")
def emu() -> Iterator[Emulator]:
    with Emulator(region=REGION, function_concurrency=8) as emulator:
        for name, handler in [
            ("echo", "echo"),
            ("fail", "fail"),
            ("sleepy", "sleepy"),
            ("env", "env"),
            ("ws-route", "ws_route"),
            ("big", "big"),
        ]:
            emulator.create_function(config(name, handler))
        # boto3's import and first client take ~1 s cold on a loaded 2-core machine.
        emulator.create_function(config("record", "record", timeout=30))
        emulator.create_function(config("url-echo", "url_echo"), url=True)
        emulator.create_function(config("url-reply", "url_reply"), url=True)
        emulator.create_function(config("url-fail", "fail"), url=True)
        s3(emulator).create_bucket(Bucket=RECORD_BUCKET)
        yield emulator


def client(emulator: Emulator, service: str, creds: Credentials | None = None, **kw: Any) -> Any:
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=kw.pop("endpoint_url", None) or emulator.endpoints.get(service),
        config=kw.pop("config", None) or Config(retries={"max_attempts": 0}, read_timeout=60),
        **(creds or emulator.credentials).boto3_kwargs(),
        **kw,
    )


def s3(emulator: Emulator) -> Any:
    return client(emulator, "s3")


def wait_for_object(emulator: Emulator, key: str, timeout: float = 20.0) -> bytes:
    """Poll the record bucket (the function writes there from its own process)."""
    bucket = s3(emulator)
    deadline = time.monotonic() + timeout
    while True:
        try:
            return bucket.get_object(Bucket=RECORD_BUCKET, Key=key)["Body"].read()
        except bucket.exceptions.NoSuchKey:
            if time.monotonic() > deadline:
                raise AssertionError(f"no object {key!r} within {timeout} s") from None
            time.sleep(0.02)


def presign(ws_url: str, creds: Credentials, region: str = REGION, expires: int = 60) -> str:
    """A query-string SigV4-presigned WebSocket URL, as a browser-side client would use."""
    request = AWSRequest(method="GET", url=ws_url.replace("ws://", "http://", 1))
    SigV4QueryAuth(
        BotocoreCredentials(creds.access_key, creds.secret_key, creds.session_token),
        "execute-api",
        region,
        expires=expires,
    ).add_auth(request)
    return request.url.replace("http://", "ws://", 1)


def signed_headers(ws_url: str, creds: Credentials, region: str = REGION) -> dict[str, str]:
    """Authorization/X-Amz-Date(/X-Amz-Security-Token) headers for the opening handshake."""
    request = AWSRequest(method="GET", url=ws_url.replace("ws://", "http://", 1))
    SigV4Auth(
        BotocoreCredentials(creds.access_key, creds.secret_key, creds.session_token),
        "execute-api",
        region,
    ).add_auth(request)
    return {k: v for k, v in request.headers.items() if k.lower() != "host"}


@pytest.fixture()
def sign(emu: Emulator) -> Callable[[str], dict[str, str]]:
    return lambda url: signed_headers(url, emu.credentials)
