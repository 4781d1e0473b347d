"""The laptop side of the relay: one WebSocket to the stage's gateway, reconnected with
backoff, whose messages feed the invocation table (``invocations``).

A fast invocation costs exactly two AWS calls (stub -> client post, client -> stub post).
Answers do not travel on the client's socket, so a reconnect loses nothing in flight; a stub
that lost its own connection asks again under the same invocation id and gets the same
answer, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from relay.client import signing
from relay.client.connections import AsyncConnectionsApi
from relay.client.credentials import CredentialCache
from relay.client.functions import FunctionConfigs
from relay.client.invocations import InvocationEvent, Invocations
from relay.client.posting import Poster
from relay.link import client_session, messages
from relay.link.client_session import HEARTBEAT, RECONNECT_AFTER
from relay.runtime import FunctionConfig, LocalRuntime

log = logging.getLogger("relay.client")

BACKOFF_FIRST, BACKOFF_MAX = 0.05, 10.0
#: The handshake may wait this long for the $connect handler (API Gateway allows 29 s).
OPEN_TIMEOUT = 30.0
MAX_MESSAGE = 8 * 1024 * 1024

EXIT_OK = 0
EXIT_REPLACED = client_session.EXIT_REPLACED
EXIT_REFUSED = 4


class RelayClient:
    """Serves the stage's invocations until stopped or replaced (see :meth:`run`)."""

    def __init__(
        self,
        *,
        stage: str,
        websocket_url: str,
        connections_endpoint: str,
        session: Any,
        runtime: LocalRuntime,
        functions: Mapping[str, FunctionConfig],
        region: str | None = None,
        s3_endpoint: str | None = None,
        on_event: Callable[[InvocationEvent], None] | None = None,
        on_connected: Callable[[str], None] | None = None,
        local_credentials: bool = False,
        heartbeat: float = HEARTBEAT,
        reconnect_after: float = RECONNECT_AFTER,
    ) -> None:
        self.stage = stage
        self.websocket_url = websocket_url
        self.connections_endpoint = connections_endpoint
        self.session = session
        self.region = region or session.region_name or "us-east-1"
        self.runtime = runtime
        self.functions = dict(functions)
        self.s3_endpoint = s3_endpoint
        self.on_event = on_event
        self.on_connected = on_connected
        self.local_credentials = local_credentials
        self._ws: Any = None
        self._stopping = False
        self._exit: int | None = None
        self._executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="relay-post")
        self._s3: Any = None
        self._tasks: set[asyncio.Task[Any]] = set()
        configs = FunctionConfigs(
            stage,
            self.functions,
            runtime.configure,
            CredentialCache(self._local_credentials).get if local_credentials else None,
        )
        link = client_session.ClientSession(
            stage, heartbeat=heartbeat, reconnect_after=reconnect_after
        )
        self._invocations = Invocations(stage, runtime, configs, self._emit, link)
        self._invocations.connection = self

    # -- public -------------------------------------------------------------------------

    @property
    def connection_id(self) -> str | None:
        """The client's current connection id (changes on every reconnect)."""
        return self._invocations.session.connection_id

    @property
    def in_flight(self) -> int:
        return self._invocations.in_flight

    async def run(self) -> int:
        """Connect, serve, reconnect with backoff and jitter; returns an exit status."""
        from websockets.exceptions import InvalidStatus

        attempt = 0
        await self._run_blocking(self._clients)
        try:
            while not self._stopping:
                try:
                    connected = await self._serve_once()
                    attempt = 0 if connected else attempt + 1
                except InvalidStatus as exc:
                    status = exc.response.status_code
                    if status in (401, 403):
                        body = bytes(exc.response.body)
                        print(_refusal(self.stage, status, body), file=sys.stderr)
                        return EXIT_REFUSED
                    log.warning("relay: connecting failed (%s); retrying", status)
                    attempt += 1
                except (OSError, TimeoutError) as exc:
                    log.warning("relay: connection to %s failed (%s); retrying", self.stage, exc)
                    attempt += 1
                if self._exit is not None:
                    return self._exit
                if not self._stopping and attempt:
                    delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (attempt - 1))
                    await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            return self._exit if self._exit is not None else EXIT_OK
        finally:
            await self._settle()

    async def stop(self) -> None:
        """Stop serving; invocations still running get a clear error instead of a timeout."""
        self._stopping = True
        self._invocations.stop()
        if self._ws is not None:
            await self._ws.close()

    # -- the connection -------------------------------------------------------------------

    async def _serve_once(self) -> bool:
        """One connection's life; True when it was established."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        url = signing.with_query(self.websocket_url, {"role": "client", "stage": self.stage})
        credentials = await self._run_blocking(self._frozen_credentials)
        headers = signing.handshake_headers(url, credentials, self.region)
        async with connect(
            url,
            additional_headers=headers,
            max_size=MAX_MESSAGE,
            compression=None,
            ping_interval=20,
            ping_timeout=20,
            # $connect runs the connect handler (maybe cold, maybe queued behind a burst of
            # stubs); API Gateway gives a route integration 29 s.
            open_timeout=OPEN_TIMEOUT,
        ) as ws:
            self._ws = ws
            self._invocations.connected()
            try:
                async for raw in ws:
                    self._on_message(raw)
                    if self._exit is not None:
                        break
            except ConnectionClosed:
                pass
            finally:
                self._ws = None
                self._invocations.disconnected()
        return True

    def _on_message(self, raw: str | bytes) -> None:
        try:
            message = messages.decode(raw)
        except messages.ProtocolError as exc:
            log.warning("relay: ignored an invalid message from the gateway: %s", exc)
            return
        if isinstance(message, messages.Overflow):
            self._spawn(self._fetch_overflow(message))
        else:
            self._invocations.received(message)

    async def _fetch_overflow(self, pointer: messages.Overflow) -> None:
        try:
            body = await self._run_blocking(
                lambda: self._s3.get_object(Bucket=pointer.bucket, Key=pointer.key)["Body"].read()
            )
            message = messages.from_overflow(messages.decode(body), pointer)
        except messages.ProtocolError as exc:
            log.warning("relay: ignored an invalid overflow message %s: %s", pointer.key, exc)
            return
        except Exception as exc:
            log.warning("relay: could not fetch overflow message %s: %s", pointer.key, exc)
            return
        if isinstance(message, messages.Invoke):
            self._invocations.received(message)
        else:
            log.warning("relay: ignored an overflow %s message", message.type)

    # -- what the session asks of the connection (invocations.Connection) -----------------

    def send(self, message: messages.Message) -> None:
        ws = self._ws
        if ws is not None:
            self._spawn(_quietly(ws.send(messages.encode(message))))

    def connected(self, connection_id: str) -> None:
        if self.on_connected is not None:
            self.on_connected(connection_id)

    def reconnect(self) -> None:
        """Close on our own terms before the gateway's 2 h limit; run() connects again."""
        if self._ws is not None:
            self._spawn(_quietly(self._ws.close()))

    def exit(self, status: int, text: str) -> None:
        print(text, file=sys.stderr)
        self._exit = status
        self._stopping = True

    # -- plumbing -----------------------------------------------------------------------

    def _clients(self) -> None:
        from botocore.config import Config

        config = Config(
            max_pool_connections=32,
            retries={"max_attempts": 2, "mode": "standard"},
            tcp_keepalive=True,
        )
        api = AsyncConnectionsApi(self.connections_endpoint, self._frozen_credentials, self.region)
        api.credentials.prime()  # in a thread (run() calls this one with _run_blocking)
        self._s3 = self.session.client(
            "s3", endpoint_url=self.s3_endpoint, region_name=self.region, config=config
        )
        self._invocations.poster = Poster(self.stage, api, self._s3, self._run_blocking)

    def _frozen_credentials(self) -> Any:
        """Blocking (the credential chain may call STS/SSO): run off the loop only."""
        return self.session.get_credentials().get_frozen_credentials()

    def _local_credentials(self) -> messages.Credentials:
        frozen = self._frozen_credentials()
        return messages.Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    async def _run_blocking(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _emit(self, event: InvocationEvent) -> None:
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("relay: the on_event callback failed")

    async def _settle(self) -> None:
        """Let running invocations answer before returning."""
        # After `replaced`, running invocations finish and answer their stubs directly;
        # after stop(), they were cancelled and answer Relay.ClientStopped.
        await self._invocations.settle()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._invocations.poster is not None:
            await self._invocations.poster.close()


async def _quietly(sending: Any) -> None:
    """A send or close on a socket that may be closing: its failure is the reconnect's news."""
    with contextlib.suppress(Exception):
        await sending


def _refusal(stage: str, status: int, body: bytes | None) -> str:
    """The line for a refused handshake: the connect handler's reason when API Gateway
    passes it on, and the usual causes either way."""
    reason = ""
    try:
        reason = str(json.loads(body or b"{}").get("message") or "")
    except (ValueError, AttributeError):
        reason = (body or b"").decode(errors="replace").strip()[:300]
    return (
        f"relay: the WebSocket API of stage {stage} refused the connection ({status})"
        + (f": {reason}" if reason else "")
        + f"\nrelay: only the AWS identity that ran `relay start --stage {stage}` may connect "
        "as its client: check your AWS credentials (AWS_PROFILE) and that the stage's debug "
        "stack is deployed"
    )
