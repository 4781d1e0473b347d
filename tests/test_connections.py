"""Signed @connections posts (sync for the stub, asyncio for the client) against the emulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.credentials import Credentials
from websockets.sync.client import connect

from relay import protocol, signing
from relay.connections import AsyncConnectionsApi
from relay.emulator import Emulator

REGION = "us-east-1"


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[Emulator, Any]]:
    with Emulator(region=REGION, moto=False) as emu:
        api = emu.create_websocket_api("posts", {}, auth="AWS_IAM")
        yield emu, api


def _credentials(emu: Emulator) -> Credentials:
    c = emu.credentials
    return Credentials(c.access_key, c.secret_key, c.session_token)


def _own_id(emu: Emulator, api: Any) -> str:
    """The one open connection's id (no route handler here to tell it; a test-only peek)."""
    gateway = next(g for g in emu._gateways if g.api is api)
    (connection_id,) = list(gateway._connections)
    return connection_id


def test_signed_handshake_and_sync_posts(gateway: tuple[Emulator, Any]) -> None:
    emu, api = gateway
    url = signing.with_query(api.websocket_url, {"role": "stub", "stage": "s"})
    assert url.endswith("?role=stub&stage=s")
    headers = signing.handshake_headers(url, _credentials(emu), REGION)
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=")
    with connect(url, additional_headers=headers) as ws:
        connection_id = _own_id(emu, api)
        poster = signing.ConnectionsApi(api.connections_endpoint, _credentials(emu), REGION)
        for n in range(3):  # the kept-alive connection is reused
            poster.post(connection_id, protocol.encode_bytes(protocol.Ack(f"i{n}")))
            assert protocol.decode(ws.recv(timeout=10)) == protocol.Ack(f"i{n}")
        with pytest.raises(signing.ConnectionGone):
            poster.post("no-such-connection", b"{}")
        wrong = Credentials(emu.credentials.access_key, "wrong-secret", None)
        with pytest.raises(signing.ConnectionsApiError, match="answered 403"):
            signing.ConnectionsApi(api.connections_endpoint, wrong, REGION).post(
                connection_id, b"{}"
            )
        poster.close()


def test_async_posts_reuse_connections_and_report_gone(gateway: tuple[Emulator, Any]) -> None:
    emu, api = gateway
    url = api.websocket_url
    headers = signing.handshake_headers(url, _credentials(emu), REGION)
    with connect(url, additional_headers=headers, max_size=2**20) as ws:
        connection_id = _own_id(emu, api)

        async def scenario() -> None:
            poster = AsyncConnectionsApi(
                api.connections_endpoint, lambda: _credentials(emu), REGION
            )
            big = json.dumps({"data": "z" * 100_000}).encode()
            await asyncio.gather(*(poster.post(connection_id, big) for _ in range(4)))
            with pytest.raises(signing.ConnectionGone):
                await poster.post("no-such-connection", b"{}")
            with pytest.raises(signing.ConnectionsApiError, match="answered 413"):
                await poster.post(connection_id, b"x" * (129 * 1024))
            await poster.post(connection_id, b'{"after": "errors"}')
            await poster.close()

        asyncio.run(scenario())
        received = [ws.recv(timeout=10) for _ in range(5)]
        assert [len(m) for m in received[:4]] == [len(json.dumps({"data": "z" * 100_000}))] * 4
        assert received[4] == '{"after": "errors"}'
