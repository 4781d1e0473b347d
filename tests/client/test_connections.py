"""Signed @connections posts (sync for the stub, asyncio for the client) against the emulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from blocking_credentials import DEADLINE, BlockingRefresh
from botocore.credentials import Credentials
from websockets.sync.client import connect

from relay.client import connections, signing
from relay.client.connections import AsyncConnectionsApi
from relay.emulator import Emulator
from relay.link import messages

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
    """The newest connection's id (no route handler here to tell it; a test-only peek).

    Newest, not the only one: the previous test's connection may still be closing.
    """
    gateway = next(g for g in emu._gateways if g.api is api)
    return max(gateway._connections.values(), key=lambda conn: conn.connected_at).id


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
            poster.post(connection_id, messages.encode_bytes(messages.Ack(f"i{n}")))
            assert messages.decode(ws.recv(timeout=10)) == messages.Ack(f"i{n}")
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


def test_sync_post_recovers_from_a_closed_keep_alive_and_reads_chunked_answers() -> None:
    """Servers may close an idle kept-alive connection or answer chunked; a post still lands
    exactly once and its status is read right."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[tuple[int, bytes]] = []  # (connection number, request body)
    answers = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",  # then the server hangs up
        b"HTTP/1.1 410 Gone\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'7\r\n{"a": 1\r\n1\r\n}\r\n0\r\n\r\n',
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
    ]

    def serve() -> None:
        for number in range(2):
            conn, _ = listener.accept()
            with conn:
                buffer = b""
                while answers:
                    while b"\r\n\r\n" not in buffer:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        buffer += chunk
                    if b"\r\n\r\n" not in buffer:
                        break
                    head, _, buffer = buffer.partition(b"\r\n\r\n")
                    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                    while len(buffer) < length:
                        buffer += conn.recv(65536)
                    assert b"\r\nauthorization: aws4-hmac-sha256 " in head.lower()
                    seen.append((number, buffer[:length]))
                    buffer = buffer[length:]
                    conn.sendall(answers.pop(0))
                    if number == 0:
                        break  # close the kept-alive connection after its first answer

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}/stage"
    poster = signing.ConnectionsApi(endpoint, Credentials("AKID", "secret"), REGION)
    poster.post("c1", b'{"n": 1}')
    with pytest.raises(signing.ConnectionGone):
        poster.post("c2", b'{"n": 2}')  # the closed connection is replaced, the post sent once
    poster.post("c3", b'{"n": 3}')  # the chunked answer was read whole: the stream is in step
    poster.close()
    server.join(10)
    listener.close()
    assert seen == [(0, b'{"n": 1}'), (1, b'{"n": 2}'), (1, b'{"n": 3}')]


class _KeepAliveServer:
    """An HTTP/1.1 server answering 200 and keeping connections open until told to drop them
    (as API Gateway and load balancers drop idle ones)."""

    def __init__(self) -> None:
        self.connections: list[asyncio.StreamWriter] = []
        self.requests = 0

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/stage"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                self.requests += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def drop_all(self) -> None:
        for writer in self.connections:
            writer.close()
        await asyncio.sleep(0)  # (lets the closes go out; nothing waits on time)

    async def close(self) -> None:
        self.server.close()


def test_async_post_after_a_burst_retries_on_a_fresh_connection() -> None:
    """Issue 11: after a burst pooled several connections and the server closed them, a post
    retried on the next pooled (closed) one and the answer was dropped."""

    async def scenario() -> None:
        server = _KeepAliveServer()
        poster = AsyncConnectionsApi(await server.start(), lambda: Credentials("A", "s"), REGION)
        await asyncio.gather(*(poster.post(f"c{n}", b"{}") for n in range(4)))
        assert len(server.connections) == 4
        await server.drop_all()
        await poster.post("after-the-burst", b"{}")  # must land (a fresh connection)
        assert server.requests == 5 and len(server.connections) == 5
        await poster.close()
        await server.close()

    asyncio.run(scenario())


def test_async_pool_drops_connections_idle_too_long(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> int:
        server = _KeepAliveServer()
        poster = AsyncConnectionsApi(await server.start(), lambda: Credentials("A", "s"), REGION)
        for n in range(3):
            await poster.post(f"c{n}", b"{}")
        await poster.close()
        await server.close()
        return len(server.connections)

    assert asyncio.run(scenario()) == 1  # kept alive: one connection for three posts
    monkeypatch.setattr(connections, "MAX_IDLE", -1.0)  # every pooled one is too old now
    assert asyncio.run(scenario()) == 3


def test_async_posts_refresh_credentials_off_the_event_loop(
    gateway: tuple[Emulator, Any],
) -> None:
    """Issue 10: botocore's refresh (SSO/STS, network calls) ran on relay's event loop."""
    emu, api = gateway
    c = emu.credentials
    refresh = BlockingRefresh(c.access_key, c.secret_key, c.session_token)
    credentials = refresh.credentials()

    async def scenario() -> None:
        poster = AsyncConnectionsApi(
            api.connections_endpoint, credentials.get_frozen_credentials, REGION
        )
        post = asyncio.ensure_future(poster.post("no-such-connection", b"{}"))
        await refresh.release_from_the_loop()
        # 410, not 403: the emulator verified the signature of the refreshed credentials
        with pytest.raises(signing.ConnectionGone):
            await asyncio.wait_for(post, DEADLINE)
        with pytest.raises(signing.ConnectionGone):  # reused: no second refresh
            await poster.post("no-such-connection", b"{}")
        await poster.close()

    asyncio.run(scenario())
    assert refresh.calls == 1
