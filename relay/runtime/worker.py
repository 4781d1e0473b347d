"""One execution environment: a worker process running awslambdaric, seen from relay's side.

The worker is started before any function is known (a *spare*); ``assign`` hands it a
function, after which it imports the handler and asks the Runtime API for work. It serves
one invocation at a time and is never reused for another function or code generation.

This module is the state machine and the Runtime API's callbacks; the process itself is in
``process``, its pipes in ``pipe``, where its output lines go in ``invocation``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from enum import Enum

from relay.runtime import api
from relay.runtime import lambda_errors as le
from relay.runtime.config import FunctionConfig
from relay.runtime.freshness import Signature, parse_records
from relay.runtime.invocation import (
    Invocation,
    InvocationResult,
    LogSink,
    WorkerLog,
    new_trace_id,
)
from relay.runtime.pipe import LinePipe
from relay.runtime.process import PeakMemory, kill_group, start_process

#: Lambda gives a function's init phase 10 s before it gives up on the environment.
INIT_LIMIT_S = 10.0
LoadedSink = Callable[["Worker", list[tuple[str, Signature]]], None]
#: A longer unterminated line on the loaded-files pipe is not the entry's and is dropped.
MAX_LOADED_LINE = 64 * 1024
#: The request id of the one event a spare receives before it has a function.
WARM_UP_ID = "relay-spare-warm-up"
_INVALID_REQUEST_ID = b'{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}'
_ACCEPTED = b'{"status":"OK"}'


class State(Enum):
    SPARE = "spare"  # runtime client imported, no function yet
    INIT = "init"  # importing the handler
    IDLE = "idle"  # waiting on /next with nothing to do
    BUSY = "busy"  # an invocation is assigned
    DEAD = "dead"


class Worker(api.RuntimeApiHandler):
    """A worker process plus the Runtime API port it talks to."""

    def __init__(self) -> None:
        self.state = State.SPARE
        self.config: FunctionConfig | None = None
        self.generation = -1
        self.port = 0
        self.pid = 0
        self.enforce_timeouts = True
        self.on_state: Callable[[Worker], None] | None = None
        #: the files of the function this worker has read, in order, as it reported them
        self.loaded: list[tuple[str, Signature]] = []
        #: told of each new batch of ``loaded`` (the pool keeps its generation's files)
        self.on_loaded: LoadedSink | None = None
        self._log = WorkerLog()
        self._server: asyncio.AbstractServer | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._output: LinePipe | None = None
        self._loaded_pipe: LinePipe | None = None
        self._memory: PeakMemory | None = None
        self._next_conn: api.RuntimeApiConnection | None = None
        self._current: Invocation | None = None
        self._init_error: bytes | None = None
        self._init_started = 0.0
        self._spawned_at = 0.0
        self._init_duration_ms: float | None = None
        self._init_reported = False
        self._max_memory_mb = 0
        self._kill_reason: str | None = None
        self._init_timer: asyncio.TimerHandle | None = None
        self.exited = asyncio.get_running_loop().create_future()
        #: done once the process has imported awslambdaric and made its first request
        self.warm: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        #: set when the handler's init is over (ready, failed or exited)
        self.initialized = asyncio.Event()
        #: set when the first invocation given to this worker has its result
        self.served_one = asyncio.Event()

    @property
    def on_log(self) -> LogSink | None:
        """Told of every line the worker prints: (function, request id, line)."""
        return self._log.on_log

    @on_log.setter
    def on_log(self, sink: LogSink | None) -> None:
        self._log.on_log = sink

    # lifecycle ---------------------------------------------------------------------
    @classmethod
    async def spawn(
        cls,
        extra_env: Mapping[str, str] | None = None,
        *,
        python: str | None = None,
        site_paths: list[str] | None = None,
    ) -> Worker:
        """Start a spare: a Python process that has imported awslambdaric and waits.

        ``python`` and ``site_paths``: a function's own environment (relay's by default).
        """
        self = cls()
        self._server, self.port = await api.serve(self)
        self._spawned_at = time.perf_counter()
        try:
            started = await start_process(
                self.port, extra_env, python=python, site_paths=site_paths
            )
        except BaseException:
            self._server.close()
            raise
        self._proc = started.process
        self.pid = started.process.pid
        self._memory = started.memory
        self._output = LinePipe(started.output_fd, self._log.lines, keep_tail=True)
        self._loaded_pipe = LinePipe(
            started.loaded_fd, self._on_loaded_lines, keep_tail=False, max_partial=MAX_LOADED_LINE
        )
        asyncio.get_running_loop().create_task(self._watch_exit())
        return self

    def assign(
        self,
        config: FunctionConfig,
        generation: int,
        *,
        env: Mapping[str, str],
        sys_path: list[str],
        pycache_prefix: str,
        fresh: bool,
    ) -> None:
        """Give this spare its function; it starts importing the handler at once."""
        assert self.state is State.SPARE and self._proc is not None
        assert self._proc.stdin is not None
        self.config = config
        self._log.function = config.name
        self.generation = generation
        self.state = State.INIT
        self._init_started = self._spawned_at if fresh else time.perf_counter()
        message = json.dumps(
            {
                "env": dict(env),
                "sys_path": sys_path,
                "cwd": str(config.code_dir),
                "pycache_prefix": pycache_prefix,
                "watched": [str(d) for d in config.watched_dirs],
                "handler": config.handler,
            }
        ).encode()
        stdin = self._proc.stdin
        # A worker that exited already (its exit watcher reports why) has a closed pipe, on
        # which asyncio drops a write but uvloop raises.
        if not stdin.transport.is_closing():
            stdin.write(len(message).to_bytes(4, "big") + message)
        stdin.close()
        if self.enforce_timeouts:
            self._init_timer = asyncio.get_running_loop().call_later(
                max(INIT_LIMIT_S, config.timeout), self._on_init_timeout
            )

    def kill(self, reason: str = "retired") -> None:
        """End the process (and anything it started) now."""
        if self._kill_reason is None:
            self._kill_reason = reason
        if self._proc is not None:
            kill_group(self._proc)

    async def close(self) -> None:
        """Kill the process and wait until it is gone (a cancelled caller stays cancelled)."""
        self.kill("closed")
        await asyncio.shield(self.exited)

    @property
    def alive(self) -> bool:
        return self.state is not State.DEAD and self._kill_reason is None

    @property
    def ready(self) -> bool:
        """Idle and listening: an invocation assigned now starts at once."""
        return self.state is State.IDLE and self._next_conn is not None

    # invocations ---------------------------------------------------------------------
    def start(self, inv: Invocation) -> asyncio.Future[InvocationResult]:
        """Assign one invocation; the future resolves with its result, whatever happens."""
        assert self.state in (State.INIT, State.IDLE), self.state
        loop = asyncio.get_running_loop()
        inv.future = loop.create_future()
        self._current = inv
        was_init = self.state is State.INIT
        self.state = State.BUSY
        if self._init_error is not None:
            self._finish(self._init_error, "Unhandled")
        elif not was_init and self._next_conn is not None:
            self._deliver()
        return inv.future

    def _deliver(self) -> None:
        inv = self._current
        conn = self._next_conn
        if inv is None or conn is None or inv.delivered_at is not None:
            return
        assert self.config is not None
        now_ms = int(time.time() * 1000)
        deadline = inv.deadline_ms or now_ms + int(self.config.timeout * 1000)
        headers = {
            "Lambda-Runtime-Aws-Request-Id": inv.request_id,
            "Lambda-Runtime-Deadline-Ms": str(deadline),
            "Lambda-Runtime-Invoked-Function-Arn": inv.invoked_function_arn or self.config.arn,
            "Lambda-Runtime-Trace-Id": inv.trace_id or new_trace_id(),
        }
        if inv.client_context:
            headers["Lambda-Runtime-Client-Context"] = inv.client_context
        if inv.cognito_identity:
            headers["Lambda-Runtime-Cognito-Identity"] = inv.cognito_identity
        self._next_conn = None
        if not self._init_reported and self._output is not None:
            self._output.drain()  # what init printed is in the pipe by now
        self._log.flush_pending(inv)  # init output shows before START, as in CloudWatch
        self._log.keep(inv, le.start_line(inv.request_id))
        inv.delivered_at = time.perf_counter()
        self._log.target = inv
        if not conn.send_event(inv.payload, headers):
            return  # connection lost: the exit watcher will report the crash
        if self.enforce_timeouts:
            delay = max(0.0, (deadline - now_ms) / 1000)
            inv.timer = asyncio.get_running_loop().call_later(delay, self._on_timeout)

    def _finish(
        self, payload: bytes, function_error: str | None, trailer: str | None = None
    ) -> None:
        inv = self._current
        if inv is None or inv.future is None or inv.future.done():
            return
        if self._output is not None:
            self._output.drain()  # everything the handler printed before answering
            partial = self._output.take_partial()
            if partial:  # a last line without its newline still belongs to this invocation
                self._log.lines([partial])
        self.read_loaded()  # and every file it imported on the way
        self._current = None
        self._log.target = None
        if inv.timer is not None:
            inv.timer.cancel()
        assert self.config is not None
        duration = (
            (time.perf_counter() - inv.delivered_at) * 1000 if inv.delivered_at is not None else 0.0
        )
        if trailer is not None:
            duration = max(duration, self.config.timeout * 1000)
        memory = self._memory.mb() if self._memory is not None else None
        if memory is not None:
            self._max_memory_mb = memory
        init_ms = None
        if not self._init_reported and self._init_duration_ms is not None:
            init_ms = self._init_duration_ms
        self._init_reported = True
        if inv.delivered_at is None:
            # never reached the handler (init failed): show what init printed, then START
            self._log.flush_pending(inv)
            self._log.keep(inv, le.start_line(inv.request_id))
        self._log.keep(inv, le.end_line(inv.request_id))
        self._log.keep(
            inv,
            le.report_line(
                inv.request_id,
                duration_ms=duration,
                memory_mb=self.config.memory_mb,
                max_memory_used_mb=self._max_memory_mb,
                init_duration_ms=init_ms,
            ),
        )
        if trailer is not None:
            self._log.keep(inv, trailer)
        if self.state is State.BUSY:
            self.state = State.IDLE
        self.served_one.set()
        inv.future.set_result(
            InvocationResult(
                request_id=inv.request_id,
                payload=payload,
                function_error=function_error,
                logs="\n".join(inv.lines) + "\n",
                duration_ms=round(duration, 2),
                billed_duration_ms=le.billed_ms(duration),
                max_memory_used_mb=self._max_memory_mb,
                init_duration_ms=None if init_ms is None else round(init_ms, 2),
            )
        )
        if self.on_state is not None:
            self.on_state(self)

    def _on_timeout(self) -> None:
        inv = self._current
        if inv is None or self.config is None:
            return
        message = le.timeout_message(inv.request_id, self.config.timeout)
        self.kill("timeout")
        self._finish(le.timeout_error(message), "Unhandled", trailer=message)

    def _on_init_timeout(self) -> None:
        if self.state is State.INIT or (
            self._current is not None and self._current.delivered_at is None
        ):
            inv = self._current
            self.kill("init timeout")
            if inv is not None and self.config is not None:
                message = le.timeout_message(inv.request_id, self.config.timeout)
                self._finish(le.timeout_error(message), "Unhandled", trailer=message)

    # Runtime API callbacks -------------------------------------------------------------
    def on_next(self, conn: api.RuntimeApiConnection) -> None:
        if not self.warm.done():  # the entry's warm-up request always comes first
            conn.send_event(
                b"{}",
                {
                    "Lambda-Runtime-Aws-Request-Id": WARM_UP_ID,
                    # awslambdaric's native client asserts a deadline in the future
                    "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 60_000),
                    "Lambda-Runtime-Invoked-Function-Arn": "",
                },
            )
            self.warm.set_result(None)
            return
        if self._init_timer is not None:
            self._init_timer.cancel()
            self._init_timer = None
        if not self.initialized.is_set():
            self.read_loaded()  # the worker wrote what init read before it asked for work
        self.initialized.set()
        if self._init_duration_ms is None:
            self._init_duration_ms = (time.perf_counter() - self._init_started) * 1000
        if self.state is State.INIT:
            self.state = State.IDLE
            self._next_conn = conn
            if self.on_state is not None:
                self.on_state(self)
            return
        self._next_conn = conn
        busy = self.state is State.BUSY and self._current is not None
        if busy and self._current is not None and self._current.delivered_at is None:
            self._deliver()  # cold start: the invocation was waiting for init

    def on_response(self, request_id: str, body: bytes) -> tuple[int, bytes]:
        if self._current is None or self._current.request_id != request_id:
            return 400, _INVALID_REQUEST_ID
        self._finish(body, None)
        return 202, _ACCEPTED

    def on_response_too_large(self, request_id: str, size: int) -> tuple[int, bytes]:
        if self._current is None or self._current.request_id != request_id:
            return 400, _INVALID_REQUEST_ID
        # awslambdaric exits on the 413, as in Lambda; never hand this worker out again
        self.kill("response too large")
        self._finish(le.response_too_large(size), "Unhandled")
        return 413, (
            b'{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).",'
            b'"errorType":"RequestEntityTooLarge"}'
        )

    def on_error(
        self,
        request_id: str,
        body: bytes,
        error_type: str | None,  # noqa: ARG002
    ) -> tuple[int, bytes]:
        if self._current is None or self._current.request_id != request_id:
            return 400, _INVALID_REQUEST_ID
        self._finish(body, "Unhandled")
        return 202, _ACCEPTED

    def on_init_error(
        self,
        body: bytes,
        error_type: str | None,  # noqa: ARG002
    ) -> tuple[int, bytes]:
        if self._init_timer is not None:
            self._init_timer.cancel()
            self._init_timer = None
        self._init_error = body
        self.initialized.set()
        if self._init_started:
            self._init_duration_ms = (time.perf_counter() - self._init_started) * 1000
        if self._current is not None:
            self._finish(body, "Unhandled")
        self.kill("init error")  # awslambdaric exits after reporting; make sure of it
        if self.on_state is not None:
            self.on_state(self)
        return 202, _ACCEPTED

    def on_connection_lost(self, conn: api.RuntimeApiConnection) -> None:
        if self._next_conn is conn:
            self._next_conn = None

    # loaded files -----------------------------------------------------------------------
    def read_loaded(self) -> None:
        """Take in what the worker has reported so far (non-blocking; cheap when nothing new)."""
        if self._loaded_pipe is not None:
            self._loaded_pipe.drain()

    def _on_loaded_lines(self, lines: list[str]) -> None:
        records = parse_records(lines)
        self.loaded.extend(records)
        if records and self.on_loaded is not None:
            self.on_loaded(self, records)

    async def _watch_exit(self) -> None:
        assert self._proc is not None
        returncode = await self._proc.wait()
        for pipe in (self._output, self._loaded_pipe):
            if pipe is not None:
                pipe.drain()
                pipe.close()
        if self._memory is not None:
            self._memory.close()
        if self._current is not None:
            self._finish(le.exit_error(self._current.request_id, returncode), "Unhandled")
        self.state = State.DEAD
        self.initialized.set()
        if self._init_timer is not None:
            self._init_timer.cancel()
        if self._server is not None:
            self._server.close()
        if not self.exited.done():
            self.exited.set_result(returncode)
        if not self.warm.done():
            self.warm.set_exception(RuntimeError(f"worker exited ({returncode}) while starting"))
            self.warm.exception()  # retrieved: nobody may be waiting
        if self.on_state is not None:
            self.on_state(self)
