"""The laptop side of the relay: one WebSocket to the stage's gateway, invocations into the
local runtime, answers posted straight back to the stub's own connection.

A fast invocation costs exactly two AWS calls (stub -> client post, client -> stub post): the
client acks only when the handler has not finished within ``ACK_AFTER``. Answers do not
travel on the client's socket, so a reconnect loses nothing in flight; a stub that lost its
own connection asks again under the same invocation id and gets the same answer, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import random
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from relay import protocol, signing
from relay.connections import AsyncConnectionsApi, ConnectionGone
from relay.runtime import FunctionConfig, InvocationResult, LocalRuntime

log = logging.getLogger("relay.client")

#: Ack only invocations still running after this long (the documented deviation from AWS's
#: "ack at once": fast invocations then cost two AWS calls, not three).
ACK_AFTER = 0.25
#: Running invocations are acked again this often (the stub gives up after 6 s of silence).
ACK_EVERY = 2.0
#: A data message this often keeps API Gateway's 10-minute idle timeout away.
HEARTBEAT = 300.0
#: API Gateway closes connections after 2 h; reconnect on our own terms before that.
RECONNECT_AFTER = 2 * 3600.0 - 10 * 60.0
BACKOFF_FIRST, BACKOFF_MAX = 0.05, 10.0
#: The handshake may wait this long for the $connect handler (API Gateway allows 29 s).
OPEN_TIMEOUT = 30.0
#: Answers are kept this long after the deadline, for a stub that reconnected and asks again.
KEEP_ANSWERS = 60.0
#: Finish the local invocation this much before the stub's deadline so the answer arrives.
DEADLINE_MARGIN_MS = 400
#: Role credentials are swapped into running workers at most this often (a swap retires them).
CREDENTIAL_REFRESH = 30 * 60.0
MAX_MESSAGE = 8 * 1024 * 1024

EXIT_OK = 0
EXIT_REPLACED = 3
EXIT_REFUSED = 4

_CREDENTIAL_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


@dataclass(frozen=True)
class InvocationEvent:
    """What the live display shows; ``status`` is running, ok, error or relay-error."""

    function: str
    request_id: str
    invocation_id: str
    status: str
    duration_ms: float | None = None
    error_type: str | None = None
    error_message: str | None = None
    logs: str = ""


@dataclass
class _Invocation:
    invoke: protocol.Invoke
    reply_to: str
    answer: protocol.Result | protocol.Error | None = None
    task: asyncio.Task[None] | None = None
    done_at: float | None = None
    ack_timer: asyncio.TimerHandle | None = None


@dataclass
class _Configured:
    config: FunctionConfig
    key: tuple[Any, ...] = ()  # what the stub sent, to skip rebuilding an unchanged config
    at: float = field(default_factory=time.monotonic)


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
        self.heartbeat = heartbeat
        self.reconnect_after = reconnect_after
        self._connection_id: str | None = None
        self._invocations: dict[str, _Invocation] = {}
        self._configured: dict[str, _Configured] = {}
        self._ws: Any = None
        self._stopping = False
        self._exit: int | None = None
        self._executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="relay-post")
        self._api: Any = None
        self._s3: Any = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- public -------------------------------------------------------------------------

    @property
    def connection_id(self) -> str | None:
        """The client's current connection id (changes on every reconnect)."""
        return self._connection_id

    @property
    def in_flight(self) -> int:
        return sum(1 for state in self._invocations.values() if state.answer is None)

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
                        print(_refusal(self.stage, status, exc.response.body), file=sys.stderr)
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
        for state in list(self._invocations.values()):
            if state.answer is None and state.task is not None:
                state.task.cancel()
        if self._ws is not None:
            await self._ws.close()

    # -- the connection -------------------------------------------------------------------

    async def _serve_once(self) -> bool:
        """One connection's life; True when it was established."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        url = signing.with_query(self.websocket_url, {"role": "client", "stage": self.stage})
        credentials = await self._run_blocking(
            lambda: self.session.get_credentials().get_frozen_credentials()
        )
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
            opened = time.monotonic()
            await ws.send(protocol.encode(protocol.Hello(role="client", stage=self.stage)))
            keeper = asyncio.create_task(self._keep_alive(ws, opened))
            try:
                async for raw in ws:
                    self._on_message(raw)
                    if self._exit is not None:
                        break
            except ConnectionClosed:
                pass
            finally:
                keeper.cancel()
                self._ws = None
                self._connection_id = None
        return True

    async def _keep_alive(self, ws: Any, opened: float) -> None:
        """Heartbeat messages; a fresh connection before the gateway's 2 h limit."""
        with contextlib.suppress(Exception):
            while True:
                left = opened + self.reconnect_after - time.monotonic()
                await asyncio.sleep(max(0.0, min(self.heartbeat, left)))
                if time.monotonic() >= opened + self.reconnect_after:
                    await ws.close()
                    return
                await ws.send(protocol.encode(protocol.Ping(nonce=str(time.time()))))

    def _on_message(self, raw: str | bytes) -> None:
        try:
            message = protocol.decode(raw)
        except protocol.ProtocolError as exc:
            log.warning("relay: ignored an invalid message from the gateway: %s", exc)
            return
        if isinstance(message, protocol.Invoke):
            self._accept(message)
        elif isinstance(message, protocol.Overflow):
            self._spawn(self._fetch_overflow(message))
        elif isinstance(message, protocol.Welcome):
            self._connection_id = message.connection_id
            if self.on_connected is not None:
                self.on_connected(message.connection_id)
        elif isinstance(message, protocol.Replaced):
            print(
                f"relay: replaced by another `relay start` for stage {message.stage}; stopping",
                file=sys.stderr,
            )
            self._exit = EXIT_REPLACED
            self._stopping = True
        else:
            log.warning("relay: ignored a %s message (not meant for a client)", message.type)

    async def _fetch_overflow(self, pointer: protocol.Overflow) -> None:
        try:
            body = await self._run_blocking(
                lambda: self._s3.get_object(Bucket=pointer.bucket, Key=pointer.key)["Body"].read()
            )
            message = protocol.from_overflow(protocol.decode(body), pointer)
        except protocol.ProtocolError as exc:
            log.warning("relay: ignored an invalid overflow message %s: %s", pointer.key, exc)
            return
        except Exception as exc:
            log.warning("relay: could not fetch overflow message %s: %s", pointer.key, exc)
            return
        if isinstance(message, protocol.Invoke):
            self._accept(message)
        else:
            log.warning("relay: ignored an overflow %s message", message.type)

    # -- invocations --------------------------------------------------------------------

    def _accept(self, invoke: protocol.Invoke) -> None:
        """Run a new invocation; a repeated id only redirects (or re-sends) its answer."""
        state = self._invocations.get(invoke.id)
        if state is not None:
            state.reply_to = invoke.reply_to
            if state.answer is not None:
                self._spawn(self._post_answer(state))
            return
        if self._stopping:
            return
        state = _Invocation(invoke=invoke, reply_to=invoke.reply_to)
        self._invocations[invoke.id] = state
        state.task = asyncio.create_task(self._run_invocation(state))

    async def _run_invocation(self, state: _Invocation) -> None:
        invoke = state.invoke
        self._emit(InvocationEvent(invoke.function_name, invoke.request_id, invoke.id, "running"))
        try:
            try:
                config = self._configure(invoke)
            except LookupError as exc:
                self._answer_relay_error(state, "Relay.FunctionNotFound", str(exc))
                await self._post_answer(state)
                return
            ack = asyncio.get_running_loop().call_later(ACK_AFTER, self._ack, state)
            running = self.runtime.invoke(
                config.name,
                invoke.payload,
                request_id=invoke.request_id,
                deadline_ms=invoke.deadline_ms - DEADLINE_MARGIN_MS,
                client_context=invoke.client_context,
                cognito_identity=invoke.cognito_identity,
                trace_id=invoke.trace_id,
                invoked_function_arn=invoke.invoked_function_arn or None,
            )
            try:
                result = await running  # awaited in this task: no second task per invocation
            finally:
                ack.cancel()
                if state.ack_timer is not None:
                    state.ack_timer.cancel()
        except asyncio.CancelledError:
            self._answer_relay_error(
                state,
                "Relay.ClientStopped",
                f"`relay start` for stage {self.stage} stopped while this invocation ran; "
                "start it again and repeat the request",
            )
            await self._post_answer(state)
            return
        except Exception as exc:
            log.exception("relay: running %s failed", invoke.function_name)
            self._answer_relay_error(state, "Relay.RuntimeError", f"relay: {exc}")
        else:
            self._answer(state, result)
        await self._post_answer(state)

    def _ack(self, state: _Invocation) -> None:
        """Ack now and every ``ACK_EVERY`` while running: the stub's proof we are alive."""
        if state.answer is not None or state.task is None or state.task.done():
            return
        self._spawn(self._post(state, protocol.Ack(state.invoke.id)))
        loop = asyncio.get_running_loop()
        state.ack_timer = loop.call_later(ACK_EVERY, self._ack, state)

    def _configure(self, invoke: protocol.Invoke) -> FunctionConfig:
        """The function's config with the stub's environment and credentials (cached)."""
        base = self.functions.get(invoke.function_name) or self.functions.get(invoke.function_path)
        if base is None:
            raise LookupError(
                f"`relay start` for stage {self.stage} does not know function "
                f"{invoke.function_name!r} ({invoke.function_path or 'no construct path'}); "
                "restart `relay start` so it picks up the app's functions"
            )
        key = (invoke.environment, invoke.credentials, invoke.region, invoke.memory_mb)
        current = self._configured.get(base.name)
        if current is not None and current.key == key:
            return current.config  # the warm path: nothing changed since the last invoke
        environment = dict(invoke.environment)
        credentials = invoke.credentials
        if self.local_credentials:
            frozen = self.session.get_credentials().get_frozen_credentials()
            credentials = protocol.Credentials(frozen.access_key, frozen.secret_key, frozen.token)
        if credentials is not None:
            environment["AWS_ACCESS_KEY_ID"] = credentials.access_key_id
            environment["AWS_SECRET_ACCESS_KEY"] = credentials.secret_access_key
            if credentials.session_token:
                environment["AWS_SESSION_TOKEN"] = credentials.session_token
        wanted = dataclasses.replace(
            base,
            environment=environment,
            region=invoke.region or base.region,
            memory_mb=invoke.memory_mb or base.memory_mb,
        )
        if current is None or not _same_except_credentials(current.config, wanted):
            self.runtime.configure(wanted)
            self._configured[base.name] = _Configured(wanted, key)
        elif not current.config.same_as(wanted) and (
            time.monotonic() - current.at > CREDENTIAL_REFRESH
        ):
            self.runtime.configure(wanted)  # rotated role credentials, at most twice an hour
            self._configured[base.name] = _Configured(wanted, key)
        return self._configured[base.name].config

    def _answer(self, state: _Invocation, result: InvocationResult) -> None:
        invoke = state.invoke
        if result.function_error:
            try:
                state.answer = protocol.Error(invoke.id, result.payload, result.duration_ms)
            except protocol.ProtocolError:
                self._answer_relay_error(
                    state,
                    "Relay.InvalidErrorPayload",
                    "the runtime reported an error that is not Lambda's error JSON: "
                    + result.payload[:200].decode("utf-8", "replace"),
                )
                return
            error = state.answer
            self._emit(
                InvocationEvent(
                    invoke.function_name,
                    invoke.request_id,
                    invoke.id,
                    "error",
                    result.duration_ms,
                    error.error_type,
                    error.error_message,
                    result.logs,
                )
            )
        else:
            state.answer = protocol.Result(invoke.id, result.payload, result.duration_ms)
            self._emit(
                InvocationEvent(
                    invoke.function_name,
                    invoke.request_id,
                    invoke.id,
                    "ok",
                    result.duration_ms,
                    logs=result.logs,
                )
            )

    def _answer_relay_error(self, state: _Invocation, error_type: str, message: str) -> None:
        invoke = state.invoke
        document = {
            "errorMessage": message,
            "errorType": error_type,
            "requestId": invoke.request_id,
            "stackTrace": [],
        }
        state.answer = protocol.Error(invoke.id, json.dumps(document).encode())
        self._emit(
            InvocationEvent(
                invoke.function_name,
                invoke.request_id,
                invoke.id,
                "relay-error",
                error_type=error_type,
                error_message=message,
            )
        )

    # -- posting ------------------------------------------------------------------------

    async def _post_answer(self, state: _Invocation) -> None:
        assert state.answer is not None
        state.done_at = time.monotonic()
        await self._post(state, state.answer)
        self._forget_later(state)

    async def _post(self, state: _Invocation, message: protocol.Message) -> None:
        """PostToConnection to the stub; a 410 keeps the answer for the stub's retry."""
        invoke = state.invoke
        try:
            out = protocol.plan_outbound(
                message,
                bucket=invoke.bucket,
                key=protocol.overflow_key(self.stage, invoke.id, message.type),
            )
        except protocol.ProtocolError as exc:
            self._answer_relay_error(state, "Relay.PayloadTooLarge", str(exc))
            out = protocol.plan_outbound(state.answer, bucket=None, key="")  # type: ignore[arg-type]
        reply_to = state.reply_to

        def upload() -> None:
            self._s3.put_object(Bucket=invoke.bucket, Key=out.upload_key, Body=out.upload_body)

        for attempt in range(3):
            try:
                if out.upload_key:
                    await self._run_blocking(upload)
                await self._api.post(reply_to, out.data)
                return
            except ConnectionGone:
                log.info(
                    "relay: the stub's connection for %s is gone; keeping the %s for its retry",
                    invoke.id,
                    message.type,
                )
                return
            except Exception as exc:
                if attempt == 2:
                    log.warning(
                        "relay: could not post the %s of %s: %s", message.type, invoke.id, exc
                    )
                    return
                await asyncio.sleep(0.05 * 2**attempt)

    def _forget_later(self, state: _Invocation) -> None:
        keep = max(0.0, (state.invoke.deadline_ms / 1000.0) - time.time()) + KEEP_ANSWERS

        def forget() -> None:
            if self._invocations.get(state.invoke.id) is state:
                del self._invocations[state.invoke.id]

        asyncio.get_running_loop().call_later(keep, forget)

    # -- plumbing -----------------------------------------------------------------------

    def _clients(self) -> None:
        from botocore.config import Config

        config = Config(
            max_pool_connections=32,
            retries={"max_attempts": 2, "mode": "standard"},
            tcp_keepalive=True,
        )
        credentials = self.session.get_credentials()
        self._api = AsyncConnectionsApi(
            self.connections_endpoint, credentials.get_frozen_credentials, self.region
        )
        self._s3 = self.session.client(
            "s3", endpoint_url=self.s3_endpoint, region_name=self.region, config=config
        )

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
        running = [s.task for s in self._invocations.values() if s.task and not s.task.done()]
        await asyncio.gather(*running, *self._tasks, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._api is not None:
            await self._api.close()


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


def _same_except_credentials(a: FunctionConfig, b: FunctionConfig) -> bool:
    def strip(config: FunctionConfig) -> FunctionConfig:
        env = {k: v for k, v in config.environment.items() if k not in _CREDENTIAL_KEYS}
        return dataclasses.replace(config, environment=env)

    return strip(a).same_as(strip(b))
