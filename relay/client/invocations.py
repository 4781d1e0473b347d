"""The asyncio driver of the client's session machine (``relay.link.client_session``): it
feeds the machine messages, handler outcomes and its timer, and carries out what it returns
(run a handler on the local runtime, post to a stub, send on the socket).

The decisions (run each id once, deferred acks, the answer cache, stop and restart errors)
are the machine's; this module only does the I/O and tells the live view.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from relay.client.functions import FunctionConfigs
from relay.client.posting import Poster
from relay.link import client_session as cs
from relay.link import messages
from relay.link.client_session import relay_error
from relay.observe.invocations import InvocationContext, InvocationEvent, finished
from relay.runtime import FunctionConfig, InvocationResult, LocalRuntime

log = logging.getLogger("relay.client")

#: Finish the local invocation this much before the stub's deadline so the answer arrives.
DEADLINE_MARGIN_MS = 400


class Connection(Protocol):
    """What the session's connection-level actions need from the WebSocket's owner."""

    def send(self, message: messages.Message) -> None: ...
    def connected(self, connection_id: str) -> None: ...
    def reconnect(self) -> None: ...
    def exit(self, status: int, text: str) -> None: ...


class Invocations:
    """Runs the session's invocations on the local runtime and posts what it decides."""

    def __init__(
        self,
        stage: str,
        runtime: LocalRuntime,
        configs: FunctionConfigs,
        emit: Callable[[InvocationEvent], None],
        session: cs.ClientSession,
    ) -> None:
        self.stage = stage
        self.runtime = runtime
        self.configs = configs
        self.session = session
        self._emit = emit
        self.poster: Poster | None = None  # set once the clients are built
        self.connection: Connection | None = None
        self._running: dict[str, asyncio.Task[None]] = {}
        self._posts: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None

    @property
    def in_flight(self) -> int:
        return self.session.in_flight

    # -- inputs ---------------------------------------------------------------------------

    def received(self, message: messages.Message) -> None:
        if isinstance(message, messages.Invoke) and message.cloud_result is not None:
            # observe mode: a copy the cloud already answered; run it here too, answer nothing
            if not self.session.stopping:
                self._spawn(self._observe(message))
            return
        self._do(self.session.received(message, time.time()))

    def connected(self) -> None:
        self._do(self.session.connected(time.time()))

    def disconnected(self) -> None:
        self._do(self.session.disconnected())

    def stop(self) -> None:
        """Running invocations are answered ``Relay.ClientStopped`` and cancelled."""
        self._do(self.session.stop(time.time()))

    async def settle(self) -> None:
        """Let running invocations and pending posts finish."""
        await asyncio.gather(*self._running.values(), return_exceptions=True)
        while self._posts:
            await asyncio.gather(*self._posts, return_exceptions=True)
        if self._timer is not None:
            self._timer.cancel()

    # -- carrying out actions -------------------------------------------------------------

    def _do(self, actions: list[cs.Action]) -> None:
        for action in actions:
            if isinstance(action, cs.Post):
                self._spawn(self._post(action))
            elif isinstance(action, cs.Run):
                self._run(action.invoke)
            elif isinstance(action, cs.Cancel):
                task = self._running.get(action.invocation_id)
                if task is not None:
                    task.cancel()
            elif self.connection is not None:
                if isinstance(action, cs.Send):
                    self.connection.send(action.message)
                elif isinstance(action, cs.Connected):
                    self.connection.connected(action.connection_id)
                elif isinstance(action, cs.Reconnect):
                    self.connection.reconnect()
                elif isinstance(action, cs.Exit):
                    self.connection.exit(action.status, action.text)
        self._schedule()

    def _schedule(self) -> None:
        """One timer for the whole session, at its ``wake``."""
        wake = self.session.wake
        if wake == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = wake
        if wake is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(loop.time() + (wake - time.time()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = self._timer_at = None
        self._do(self.session.timer(time.time()))

    async def _observe(self, invoke: messages.Invoke) -> None:
        """Observe mode: run the cloud's event here too; observers compare the answers."""
        try:
            config = await self.configs.config_for(invoke)
        except LookupError as exc:
            log.warning("relay: observed an invocation of an unknown function: %s", exc)
            return
        result = await self.runtime.invoke(
            config.name,
            invoke.payload,
            request_id=invoke.request_id,
            client_context=invoke.client_context,
            cognito_identity=invoke.cognito_identity,
            invoked_function_arn=invoke.invoked_function_arn or None,
        )
        event = finished(
            context=_recorded(invoke, config, result)["context"],
            request_id=invoke.request_id,
            invocation_id=invoke.id,
            payload=invoke.payload,
            result=result,
            source="observe",
        )
        self._emit(
            dataclasses.replace(
                event, cloud_result=invoke.cloud_result, cloud_error=invoke.cloud_error is not None
            )
        )

    def _run(self, invoke: messages.Invoke) -> None:
        self._emit(InvocationEvent(invoke.function_name, invoke.request_id, invoke.id, "running"))
        self._running[invoke.id] = asyncio.create_task(self._handle(invoke))

    async def _handle(self, invoke: messages.Invoke) -> None:
        try:
            answer = await self._answer_of(invoke)
        except asyncio.CancelledError:
            return  # stopped: the session answered already
        finally:
            self._running.pop(invoke.id, None)
        self._do(self.session.finished(invoke.id, answer, time.time()))

    async def _answer_of(self, invoke: messages.Invoke) -> messages.Result | messages.Error:
        try:
            config = await self.configs.config_for(invoke)
        except LookupError as exc:
            return self._relay_error(invoke, "Relay.FunctionNotFound", str(exc))
        try:
            result = await self.runtime.invoke(
                config.name,
                invoke.payload,
                request_id=invoke.request_id,
                deadline_ms=invoke.deadline_ms - DEADLINE_MARGIN_MS,
                client_context=invoke.client_context,
                cognito_identity=invoke.cognito_identity,
                trace_id=invoke.trace_id,
                invoked_function_arn=invoke.invoked_function_arn or None,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("relay: running %s failed", invoke.function_name)
            return self._relay_error(invoke, "Relay.RuntimeError", f"relay: {exc}")
        return self._answer(invoke, config, result)

    def _answer(
        self, invoke: messages.Invoke, config: FunctionConfig, result: InvocationResult
    ) -> messages.Result | messages.Error:
        if not result.function_error:
            self._emit(
                InvocationEvent(
                    invoke.function_name,
                    invoke.request_id,
                    invoke.id,
                    "ok",
                    result.duration_ms,
                    logs=result.logs,
                    **_recorded(invoke, config, result),
                )
            )
            return messages.Result(invoke.id, result.payload, result.duration_ms)
        try:
            error = messages.Error(invoke.id, result.payload, result.duration_ms)
        except messages.ProtocolError:
            return self._relay_error(
                invoke,
                "Relay.InvalidErrorPayload",
                "the runtime reported an error that is not Lambda's error JSON: "
                + result.payload[:200].decode("utf-8", "replace"),
            )
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
                **_recorded(invoke, config, result),
            )
        )
        return error

    def _relay_error(
        self, invoke: messages.Invoke, error_type: str, message: str
    ) -> messages.Error:
        self._emit_relay_error(invoke, error_type, message)
        return relay_error(invoke, error_type, message)

    def _emit_relay_error(self, invoke: messages.Invoke, error_type: str, message: str) -> None:
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

    # -- posting --------------------------------------------------------------------------

    async def _post(self, post: cs.Post) -> None:
        assert self.poster is not None
        message = post.message
        if isinstance(message, messages.Error) and message.error_type in _SESSION_ERRORS:
            self._emit_relay_error(post.invoke, message.error_type, message.error_message)
        try:
            out = self.poster.plan(message, post.invoke)
        except messages.ProtocolError as exc:
            error = self._relay_error(post.invoke, "Relay.PayloadTooLarge", str(exc))
            out = messages.plan_outbound(error, bucket=None, key="")
        await self.poster.post(post.to, out, post.invoke, message.type)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._posts.add(task)
        task.add_done_callback(self._posts.discard)


#: Errors the session itself answers with (the driver tells the live view).
_SESSION_ERRORS = frozenset({"Relay.ClientStopped", "Relay.ClientRestarted"})


def _recorded(
    invoke: messages.Invoke, config: FunctionConfig, result: InvocationResult
) -> dict[str, Any]:
    """What the observers of a finished invocation get beyond its status (no secrets)."""
    context = InvocationContext(
        function_name=invoke.function_name,
        function_version=invoke.function_version,
        invoked_function_arn=invoke.invoked_function_arn,
        memory_mb=invoke.memory_mb,
        timeout_s=config.timeout,
        region=invoke.region,
        log_group=invoke.log_group,
        log_stream=invoke.log_stream,
        client_context=invoke.client_context,
        cognito_identity=invoke.cognito_identity,
        function_path=invoke.function_path,
        handler=config.handler,
        code_dir=str(config.code_dir),
        layers=tuple(str(p) for p in config.layers),
    )
    return {
        "context": context,
        "payload": invoke.payload,
        "result": result.payload,
        "cold": result.init_duration_ms is not None,
    }
