"""The invocations this client runs: each one once, acked while it runs, answered once.

Acks are deferred: an invocation still running after ``ACK_AFTER`` is acked then and every
``ACK_EVERY`` (a fast one therefore costs two AWS calls, not three; see docs/architecture.md).
Answers are kept until well past the stub's deadline, so a stub that reconnected and asks
again under the same id gets the same answer at its new connection, never a second run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from relay.client.functions import FunctionConfigs
from relay.client.posting import Poster
from relay.invocations import InvocationContext, InvocationEvent, finished
from relay.link import messages
from relay.runtime import FunctionConfig, InvocationResult, LocalRuntime

log = logging.getLogger("relay.client")

#: Ack only invocations still running after this long (the documented deviation from AWS's
#: "ack at once": fast invocations then cost two AWS calls, not three).
ACK_AFTER = 0.25
#: Running invocations are acked again this often (the stub gives up after 6 s of silence).
ACK_EVERY = 2.0
#: Answers are kept this long after the deadline, for a stub that reconnected and asks again.
KEEP_ANSWERS = 60.0
#: Finish the local invocation this much before the stub's deadline so the answer arrives.
DEADLINE_MARGIN_MS = 400


@dataclass
class _Invocation:
    invoke: messages.Invoke
    reply_to: str
    answer: messages.Result | messages.Error | None = None
    task: asyncio.Task[None] | None = None
    done_at: float | None = None
    ack_timer: asyncio.TimerHandle | None = None
    config: FunctionConfig | None = None


class Invocations:
    """The invocation table: runs new ids on the local runtime, answers repeated ones."""

    def __init__(
        self,
        stage: str,
        runtime: LocalRuntime,
        configs: FunctionConfigs,
        emit: Callable[[InvocationEvent], None],
    ) -> None:
        self.stage = stage
        self.runtime = runtime
        self.configs = configs
        self._emit = emit
        self.poster: Poster | None = None  # set once the clients are built
        self._table: dict[str, _Invocation] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.stopping = False

    @property
    def in_flight(self) -> int:
        return sum(1 for state in self._table.values() if state.answer is None)

    def accept(self, invoke: messages.Invoke) -> None:
        """Run a new invocation; a repeated id only redirects (or re-sends) its answer."""
        if invoke.cloud_result is not None:  # observe mode: a copy, answered in the cloud
            if not self.stopping:
                self._spawn(self._observe(invoke))
            return
        state = self._table.get(invoke.id)
        if state is not None:
            state.reply_to = invoke.reply_to
            if state.answer is not None:
                self._spawn(self._post_answer(state))
            return
        if self.stopping:
            return
        state = _Invocation(invoke=invoke, reply_to=invoke.reply_to)
        self._table[invoke.id] = state
        state.task = asyncio.create_task(self._run(state))

    def stop(self) -> None:
        """Cancel running invocations: each answers ``Relay.ClientStopped``."""
        self.stopping = True
        for state in list(self._table.values()):
            if state.answer is None and state.task is not None:
                state.task.cancel()

    async def settle(self) -> None:
        """Let running invocations and pending posts finish."""
        running = [s.task for s in self._table.values() if s.task and not s.task.done()]
        await asyncio.gather(*running, *self._tasks, return_exceptions=True)

    # -- one invocation -------------------------------------------------------------------

    async def _observe(self, invoke: messages.Invoke) -> None:
        """Observe mode: run the cloud's event here too; observers compare the answers."""
        try:
            config = self.configs.config_for(invoke)
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
        state = _Invocation(invoke=invoke, reply_to="", config=config)
        event = finished(
            context=_recorded(state, result)["context"],
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

    async def _run(self, state: _Invocation) -> None:
        invoke = state.invoke
        self._emit(InvocationEvent(invoke.function_name, invoke.request_id, invoke.id, "running"))
        try:
            try:
                config = state.config = self.configs.config_for(invoke)
            except LookupError as exc:
                self._relay_error(state, "Relay.FunctionNotFound", str(exc))
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
            self._relay_error(
                state,
                "Relay.ClientStopped",
                f"`relay start` for stage {self.stage} stopped while this invocation ran; "
                "start it again and repeat the request",
            )
            await self._post_answer(state)
            return
        except Exception as exc:
            log.exception("relay: running %s failed", invoke.function_name)
            self._relay_error(state, "Relay.RuntimeError", f"relay: {exc}")
        else:
            self._answer(state, result)
        await self._post_answer(state)

    def _ack(self, state: _Invocation) -> None:
        """Ack now and every ``ACK_EVERY`` while running: the stub's proof we are alive."""
        if state.answer is not None or state.task is None or state.task.done():
            return
        self._spawn(self._post(state, messages.Ack(state.invoke.id)))
        loop = asyncio.get_running_loop()
        state.ack_timer = loop.call_later(ACK_EVERY, self._ack, state)

    def _answer(self, state: _Invocation, result: InvocationResult) -> None:
        invoke = state.invoke
        if result.function_error:
            try:
                state.answer = messages.Error(invoke.id, result.payload, result.duration_ms)
            except messages.ProtocolError:
                self._relay_error(
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
                    **_recorded(state, result),
                )
            )
        else:
            state.answer = messages.Result(invoke.id, result.payload, result.duration_ms)
            self._emit(
                InvocationEvent(
                    invoke.function_name,
                    invoke.request_id,
                    invoke.id,
                    "ok",
                    result.duration_ms,
                    logs=result.logs,
                    **_recorded(state, result),
                )
            )

    def _relay_error(self, state: _Invocation, error_type: str, message: str) -> None:
        invoke = state.invoke
        state.answer = relay_error(invoke, error_type, message)
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

    async def _post_answer(self, state: _Invocation) -> None:
        assert state.answer is not None
        state.done_at = time.monotonic()
        await self._post(state, state.answer)
        self._forget_later(state)

    async def _post(self, state: _Invocation, message: messages.Message) -> None:
        assert self.poster is not None
        try:
            out = self.poster.plan(message, state.invoke)
        except messages.ProtocolError as exc:
            self._relay_error(state, "Relay.PayloadTooLarge", str(exc))
            assert state.answer is not None
            out = messages.plan_outbound(state.answer, bucket=None, key="")
        await self.poster.post(state.reply_to, out, state.invoke, message.type)

    def _forget_later(self, state: _Invocation) -> None:
        keep = max(0.0, (state.invoke.deadline_ms / 1000.0) - time.time()) + KEEP_ANSWERS

        def forget() -> None:
            if self._table.get(state.invoke.id) is state:
                del self._table[state.invoke.id]

        asyncio.get_running_loop().call_later(keep, forget)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def relay_error(invoke: messages.Invoke, error_type: str, message: str) -> messages.Error:
    """A relay-side failure in Lambda's error shape, so the caller sees it as one."""
    document = {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": invoke.request_id,
        "stackTrace": [],
    }
    return messages.Error(invoke.id, json.dumps(document).encode())


def _recorded(state: _Invocation, result: InvocationResult) -> dict[str, Any]:
    """What the observers of a finished invocation get beyond its status (no secrets)."""
    invoke, config = state.invoke, state.config
    context = InvocationContext(
        function_name=invoke.function_name,
        function_version=invoke.function_version,
        invoked_function_arn=invoke.invoked_function_arn,
        memory_mb=invoke.memory_mb,
        timeout_s=config.timeout if config else 3.0,
        region=invoke.region,
        log_group=invoke.log_group,
        log_stream=invoke.log_stream,
        client_context=invoke.client_context,
        cognito_identity=invoke.cognito_identity,
        function_path=invoke.function_path,
        handler=config.handler if config else invoke.handler,
        code_dir=str(config.code_dir) if config else "",
        layers=tuple(str(p) for p in config.layers) if config else (),
    )
    return {
        "context": context,
        "payload": invoke.payload,
        "result": result.payload,
        "cold": result.init_duration_ms is not None,
    }
