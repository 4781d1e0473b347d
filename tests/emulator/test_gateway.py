"""The WebSocket API and its @connections management API, through real websockets clients
and boto3's `apigatewaymanagementapi` client."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as sync_connect

from relay.emulator import Emulator, Route
from relay.emulator.gateway import WebSocketGateway

from .conftest import RECORD_BUCKET, client, presign, s3, wait_for_object

ROUTES = {
    "$connect": "ws-route",
    "$disconnect": "record",
    "$default": Route("ws-route", return_response=True),
    "echo": Route("ws-route", return_response=True),
}


@pytest.fixture(scope="module")
def api(emu: Emulator):
    return emu.create_websocket_api("test-api", routes=ROUTES, stage="dev")


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def _manager(emu: Emulator, api, creds=None):
    return client(emu, "apigatewaymanagementapi", creds, endpoint_url=api.connections_endpoint)


async def _open(url: str, headers: dict[str, str] | None = None, **kw) -> ClientConnection:
    kw.setdefault("max_size", None)
    return await connect(url, additional_headers=headers, **kw)


async def _connection_id(ws: ClientConnection) -> tuple[str, dict]:
    """Ask the two-way $default route for our event; it carries our connection id."""
    await ws.send("who am i")
    reply = json.loads(await ws.recv())
    return reply["event"]["requestContext"]["connectionId"], reply


def test_unsigned_handshake_is_refused_with_403(api) -> None:
    async def go() -> InvalidStatus:
        with pytest.raises(InvalidStatus) as excinfo:
            await _open(api.websocket_url)
        return excinfo.value

    refused = run(go())
    assert refused.response.status_code == 403
    assert json.loads(refused.response.body) == {"message": "Missing Authentication Token"}


def test_wrong_secret_is_refused_with_403(emu: Emulator, api) -> None:
    bad = emu.credentials._replace(secret_key="wrong")

    async def go() -> InvalidStatus:
        with pytest.raises(InvalidStatus) as excinfo:
            await _open(presign(api.websocket_url, bad))
        return excinfo.value

    refused = run(go())
    assert refused.response.status_code == 403
    assert json.loads(refused.response.body)["message"].startswith(
        "The request signature we calculated does not match"
    )


def test_connect_rejection_by_the_function_refuses_the_handshake(
    emu: Emulator, api, sign: Callable[[str], dict[str, str]]
) -> None:
    async def go(query: str) -> InvalidStatus:
        url = api.websocket_url + query
        with pytest.raises(InvalidStatus) as excinfo:
            await _open(url, sign(url))
        return excinfo.value

    denied = run(go("?deny=yes"))
    assert denied.response.status_code == 401
    assert denied.response.body == b"denied by $connect"
    crashed = run(go("?crash=yes"))
    assert crashed.response.status_code == 500
    assert json.loads(crashed.response.body)["message"] == "Internal server error"


def test_message_reaches_default_route_with_api_gateway_event(
    emu: Emulator, api, sign: Callable[[str], dict[str, str]]
) -> None:
    async def go() -> tuple[dict, dict]:
        async with await _open(api.websocket_url, sign(api.websocket_url)) as ws:
            await ws.send('{"hello": 1}')
            text = json.loads(await ws.recv())
            await ws.send(b"\x00\xffbinary")
            binary = json.loads(await ws.recv())
            return text, binary

    text, binary = run(go())
    assert text["route"] == "$default"
    event = text["event"]
    assert event["body"] == '{"hello": 1}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["routeKey"] == "$default"
    assert context["eventType"] == "MESSAGE"
    assert context["messageDirection"] == "IN"
    assert context["stage"] == "dev"
    assert context["apiId"] == api.api_id
    assert context["domainName"] == api.websocket_url.split("/")[2]
    assert len(context["connectionId"]) == 16 and context["connectionId"].endswith("=")
    assert isinstance(context["connectedAt"], int) and isinstance(context["requestId"], str)
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["accessKey"] == "relay-local"
    assert context["identity"]["userArn"] == "arn:aws:iam::123456789012:user/relay-local"
    assert binary["event"]["isBase64Encoded"] is True
    assert binary["event"]["body"] == "AP9iaW5hcnk="


def test_route_selection_uses_the_action_field(
    emu: Emulator, api, sign: Callable[[str], dict[str, str]]
) -> None:
    async def go() -> list[str]:
        async with await _open(api.websocket_url, sign(api.websocket_url)) as ws:
            routes = []
            for message in ['{"action": "echo"}', '{"action": "nope"}', "[1]"]:
                await ws.send(message)
                routes.append(json.loads(await ws.recv())["route"])
            return routes

    assert run(go()) == ["echo", "$default", "$default"]


def test_connect_event_has_query_headers_and_role_identity(emu: Emulator) -> None:
    recorded = emu.create_websocket_api(
        "recorded",
        routes={"$connect": "record", "$default": Route("ws-route", return_response=True)},
        stage="dev",
    )
    role = emu.issue_credentials("stub-role", "my-function")
    url = presign(recorded.websocket_url + "?role=stub&stage=alice", role)

    async def go() -> dict:
        async with await _open(url, user_agent_header="relay-test/1") as ws:
            return (await _connection_id(ws))[1]

    reply = run(go())
    connection_id = reply["event"]["requestContext"]["connectionId"]
    event = json.loads(wait_for_object(emu, f"$connect/{connection_id}"))
    assert event["queryStringParameters"]["role"] == "stub"
    assert event["queryStringParameters"]["stage"] == "alice"
    assert event["multiValueQueryStringParameters"]["role"] == ["stub"]
    assert event["headers"]["User-Agent"] == "relay-test/1"
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert event["multiValueHeaders"]["Sec-WebSocket-Version"] == ["13"]
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert (context["routeKey"], context["eventType"]) == ("$connect", "CONNECT")
    assert context["connectionId"] == connection_id
    assert context["stage"] == "dev" and context["apiId"] == recorded.api_id
    assert context["identity"]["userArn"] == (
        "arn:aws:sts::123456789012:assumed-role/stub-role/my-function"
    )
    assert context["identity"]["accessKey"] == role.access_key
    assert context["identity"]["userAgent"] == "relay-test/1"


def test_post_get_delete_through_boto3(emu: Emulator, api, sign) -> None:
    manager = _manager(emu, api)

    async def go() -> None:
        async with await _open(api.websocket_url, sign(api.websocket_url)) as ws:
            connection_id, _ = await _connection_id(ws)
            before = emu.calls["PostToConnection"]
            await asyncio.to_thread(
                manager.post_to_connection, ConnectionId=connection_id, Data=b'{"n": 1}'
            )
            assert await ws.recv() == '{"n": 1}'  # UTF-8 data arrives as a text frame
            await asyncio.to_thread(
                manager.post_to_connection, ConnectionId=connection_id, Data=b"\xff\x00"
            )
            assert await ws.recv() == b"\xff\x00"
            assert emu.calls["PostToConnection"] == before + 2

            info = await asyncio.to_thread(manager.get_connection, ConnectionId=connection_id)
            assert info["Identity"]["SourceIp"] == "127.0.0.1"
            assert info["Identity"]["UserAgent"].startswith("Python/")
            assert isinstance(info["ConnectedAt"], datetime)
            assert info["LastActiveAt"] >= info["ConnectedAt"]

            await asyncio.to_thread(manager.delete_connection, ConnectionId=connection_id)
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            with pytest.raises(ClientError) as gone:
                await asyncio.to_thread(
                    manager.post_to_connection, ConnectionId=connection_id, Data=b"late"
                )
            assert gone.value.response["Error"]["Code"] == "GoneException"
            assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410
            # $disconnect ran the record function, which stored its event in S3 (moto).
            record = json.loads(wait_for_object(emu, f"$disconnect/{connection_id}"))
            assert record["requestContext"]["eventType"] == "DISCONNECT"
            assert record["requestContext"]["disconnectStatusCode"] == 1000

    run(go())


def test_a_connection_is_open_as_soon_as_its_client_sees_the_101(
    emu: Emulator, sign, monkeypatch: pytest.MonkeyPatch
) -> None:
    """websockets writes the 101 before it starts the connection's handler; on a loaded machine
    a peer that learnt the id from $connect (a stub reading the connection table) can post in
    between. The handler is held here to make that window as wide as the test needs."""
    release = threading.Event()
    original = WebSocketGateway._session

    async def held_session(self: WebSocketGateway, ws: Any) -> None:
        await asyncio.to_thread(release.wait, 30)
        await original(self, ws)

    monkeypatch.setattr(WebSocketGateway, "_session", held_session)
    api = emu.create_websocket_api("held", routes={"$connect": "record"}, stage="held")
    manager, bucket = _manager(emu, api), s3(emu)

    def connect_keys() -> set[str]:
        listing = bucket.list_objects_v2(Bucket=RECORD_BUCKET, Prefix="$connect/")
        return {item["Key"] for item in listing.get("Contents", [])}

    before = connect_keys()
    try:
        with sync_connect(api.websocket_url, additional_headers=sign(api.websocket_url)) as ws:
            # $connect (the record function) stored its event before the 101 was sent.
            (key,) = connect_keys() - before
            connection_id = key.split("/", 1)[1]
            manager.post_to_connection(ConnectionId=connection_id, Data=b'{"early": 1}')
            assert ws.recv(timeout=10) == '{"early": 1}'
            info = manager.get_connection(ConnectionId=connection_id)
            assert info["Identity"]["SourceIp"] == "127.0.0.1"
            release.set()
            manager.post_to_connection(ConnectionId=connection_id, Data=b'{"later": 2}')
            assert ws.recv(timeout=10) == '{"later": 2}'
    finally:
        release.set()


def test_unknown_connection_is_gone(emu: Emulator, api) -> None:
    manager = _manager(emu, api)
    with pytest.raises(manager.exceptions.GoneException):
        manager.post_to_connection(ConnectionId="AAAAAAAAAAAAAAA=", Data=b"x")
    with pytest.raises(manager.exceptions.GoneException):
        manager.get_connection(ConnectionId="AAAAAAAAAAAAAAA=")


def test_client_close_makes_connection_gone_and_runs_disconnect(emu: Emulator, api, sign) -> None:
    manager = _manager(emu, api)

    async def go() -> str:
        async with await _open(api.websocket_url, sign(api.websocket_url)) as ws:
            connection_id, _ = await _connection_id(ws)
        return connection_id

    connection_id = run(go())
    record = json.loads(wait_for_object(emu, f"$disconnect/{connection_id}"))
    assert record["requestContext"]["disconnectStatusCode"] == 1000
    with pytest.raises(manager.exceptions.GoneException):
        manager.post_to_connection(ConnectionId=connection_id, Data=b"x")


def test_post_over_128_kb_is_payload_too_large(emu: Emulator, api, sign) -> None:
    manager = _manager(emu, api)

    async def go() -> None:
        async with await _open(api.websocket_url, sign(api.websocket_url)) as ws:
            connection_id, _ = await _connection_id(ws)
            exactly = b"a" * (128 * 1024)
            await asyncio.to_thread(
                manager.post_to_connection, ConnectionId=connection_id, Data=exactly
            )
            assert len(await ws.recv()) == 128 * 1024
            with pytest.raises(ClientError) as excinfo:
                await asyncio.to_thread(
                    manager.post_to_connection, ConnectionId=connection_id, Data=exactly + b"a"
                )
            assert excinfo.value.response["Error"]["Code"] == "PayloadTooLargeException"
            assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413

    run(go())


def test_client_message_over_128_kb_closes_with_1009(emu: Emulator, api, sign) -> None:
    async def go() -> int | None:
        async with await _open(api.websocket_url, sign(api.websocket_url)) as ws:
            frames = ["a" * (32 * 1024)] * 4 + ["a"]  # every frame within 32 KB
            await ws.send(frames)
            with pytest.raises(ConnectionClosed) as excinfo:
                await ws.recv()
            return excinfo.value.rcvd.code if excinfo.value.rcvd else None

    assert run(go()) == 1009


def test_client_frame_over_32_kb_closes_with_1009(emu: Emulator, api, sign) -> None:
    """API Gateway's frame quota: a message over 32 KB must come in fragments."""

    async def go() -> int | None:
        async with await _open(api.websocket_url, sign(api.websocket_url)) as ws:
            await ws.send("a" * (32 * 1024 + 1))  # one frame
            with pytest.raises(ConnectionClosed) as excinfo:
                await ws.recv()
            return excinfo.value.rcvd.code if excinfo.value.rcvd else None

    assert run(go()) == 1009


def test_fragmented_message_is_routed_and_the_reply_comes_in_32_kb_frames(
    emu: Emulator, api, sign
) -> None:
    manager = _manager(emu, api)
    posted = "é" + "ü" * 40_000  # 80 KB of two-byte characters, odd offset: splits must not cut one

    async def go() -> tuple[dict, str]:
        # A client that refuses frames over 32 KB: the gateway must fragment what it sends.
        async with await _open(
            api.websocket_url, sign(api.websocket_url), max_size=(None, 32 * 1024)
        ) as ws:
            await ws.send(["a" * (32 * 1024), "b" * (32 * 1024), "z" * 30_000])  # 95 KB
            reply = json.loads(await ws.recv())
            connection_id = reply["event"]["requestContext"]["connectionId"]
            await asyncio.to_thread(
                manager.post_to_connection, ConnectionId=connection_id, Data=posted.encode()
            )
            return reply, await ws.recv()

    reply, received = run(go())
    assert reply["route"] == "$default"
    assert reply["event"]["body"] == "a" * (32 * 1024) + "b" * (32 * 1024) + "z" * 30_000
    assert received == posted


def test_management_api_checks_signatures(emu: Emulator, api) -> None:
    stranger = emu.credentials._replace(access_key="AKIASTRANGER")
    manager = _manager(emu, api, stranger)
    with pytest.raises(ClientError) as excinfo:
        manager.post_to_connection(ConnectionId="AAAAAAAAAAAAAAA=", Data=b"x")
    assert excinfo.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_idle_connections_are_closed_with_1001() -> None:
    async def go() -> int | None:
        async with Emulator(moto=False, idle_timeout=0.3) as emu:
            api = emu.create_websocket_api("idle", routes={}, stage="s", auth="NONE")
            async with await _open(api.websocket_url) as ws:
                with pytest.raises(ConnectionClosed) as excinfo:
                    await ws.recv()
                return excinfo.value.rcvd.code if excinfo.value.rcvd else None

    assert run(go()) == 1001


def test_message_without_matching_route_gets_forbidden_reply() -> None:
    async def go() -> dict:
        async with Emulator(moto=False) as emu:
            api = emu.create_websocket_api("bare", routes={}, stage="s", auth="NONE")
            async with await _open(api.websocket_url) as ws:
                await ws.send("hi")
                return json.loads(await ws.recv())

    reply = run(go())
    assert reply["message"] == "Forbidden"
    assert set(reply) == {"message", "connectionId", "requestId"}
