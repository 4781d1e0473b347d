"""Who may connect as a stage's client, enforced end to end: the real connect handler (from
the stub asset) behind the emulator's IAM-authorized ``$connect``, which passes the signer in
``requestContext.identity.userArn`` as API Gateway does."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

from relay import client as relay_client
from relay.client.signing import handshake_headers, with_query
from relay.cloud.stub_asset import build_stub_asset
from relay.emulator import Credentials, Emulator
from relay.runtime import FunctionConfig, LocalRuntime
from relay.stub_lambda import connect

REGION = "us-east-1"
STAGE = "alice"
STUB_ROLE = ("shop-alice-OrdersServiceRole-1X2Y3Z", "shop-alice-Orders-AbC123")


@dataclass
class Gateway:
    emu: Emulator
    websocket_url: str
    connections_endpoint: str


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    asset = build_stub_asset(tmp_path_factory.mktemp("cache"))
    with Emulator(region=REGION, function_concurrency=4) as emu:
        # moto keeps its state per process: a table name of its own (see tests/client).
        table = f"relay-{STAGE}-{uuid.uuid4().hex[:8]}-connections"
        boto3.client(
            "dynamodb", region_name=REGION, endpoint_url=emu.endpoints["dynamodb"],
            **emu.credentials.boto3_kwargs(),
        ).create_table(TableName=table, **connect.TABLE_LAYOUT)  # fmt: skip
        api = emu.create_websocket_api(
            f"relay-{STAGE}",
            routes={"$connect": "connect", "$disconnect": "connect", "$default": "connect"},
            stage=STAGE,
        )
        emu.create_function(
            FunctionConfig(
                name="connect",
                handler="connect.handler",
                code_dir=Path(asset),
                timeout=10,
                environment={
                    "RELAY_TABLE": table,
                    "RELAY_STAGE": STAGE,
                    "RELAY_CONNECTIONS_ENDPOINT": api.connections_endpoint,
                    connect.CLIENT_PRINCIPAL_ENV: emu.local_principal_arn,
                },
            )
        )
        yield Gateway(emu, api.websocket_url, api.connections_endpoint)


async def _handshake(gateway: Gateway, role: str, creds: Credentials) -> InvalidStatus | None:
    """Open and close a connection as ``role``; the refusal, or None when accepted."""
    url = with_query(gateway.websocket_url, {"role": role, "stage": STAGE})
    frozen = boto3.Session(**creds.boto3_kwargs()).get_credentials().get_frozen_credentials()
    try:
        async with ws_connect(
            url, additional_headers=handshake_headers(url, frozen, REGION), open_timeout=30
        ):
            return None
    except InvalidStatus as exc:
        return exc


def _message(refusal: InvalidStatus | None) -> str:
    assert refusal is not None, "the handshake was accepted"
    assert refusal.response.status_code == 403
    return json.loads(refusal.response.body)["message"]


def test_only_the_recorded_developer_connects_as_client(gateway: Gateway) -> None:
    emu = gateway.emu
    stub = emu.issue_credentials(*STUB_ROLE)
    bob = emu.issue_credentials("AWSReservedSSO_Developer_0a1b", "bob@example.com")
    stub_arn = f"arn:aws:sts::{emu.account_id}:assumed-role/{STUB_ROLE[0]}/{STUB_ROLE[1]}"

    async def scenario() -> tuple[InvalidStatus | None, ...]:
        return (
            await _handshake(gateway, "client", emu.credentials),
            await _handshake(gateway, "client", stub),
            await _handshake(gateway, "stub", stub),
            await _handshake(gateway, "client", bob),
        )

    owner, stub_as_client, stub_as_stub, bob_as_client = asyncio.run(
        asyncio.wait_for(scenario(), 120)
    )
    assert owner is None
    assert stub_as_stub is None
    assert _message(stub_as_client) == (
        f"relay: only {emu.local_principal_arn}, who ran `relay start --stage {STAGE}`, may "
        f"connect as the client of stage {STAGE}; this connection is signed by {stub_arn}. "
        "Use a stage of your own: `relay start --stage NAME`."
    )
    assert (
        "signed by arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Developer_0a1b/"
        "bob@example.com." in _message(bob_as_client)
    )


def test_a_refused_relay_client_exits_with_the_reason(
    gateway: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    bob = gateway.emu.issue_credentials("AWSReservedSSO_Developer_0a1b", "bob@example.com")

    async def scenario() -> int:
        client = relay_client.RelayClient(
            stage=STAGE,
            websocket_url=gateway.websocket_url,
            connections_endpoint=gateway.connections_endpoint,
            session=boto3.Session(region_name=REGION, **bob.boto3_kwargs()),
            runtime=LocalRuntime(max_workers=1, spares=0, watch=False),
            functions={},
            region=REGION,
            s3_endpoint=gateway.emu.endpoints["s3"],
        )
        return await asyncio.wait_for(client.run(), 60)

    assert asyncio.run(scenario()) == relay_client.EXIT_REFUSED
    err = capsys.readouterr().err
    assert f"the WebSocket API of stage {STAGE} refused the connection (403): relay: only " in err
    assert "bob@example.com" in err
    assert f"only the AWS identity that ran `relay start --stage {STAGE}` may connect" in err
