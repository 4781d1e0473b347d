"""One execution environment: a worker process running awslambdaric, seen from relay's side.

The worker is started before any function is known (a *spare*); ``assign`` hands it a
function, after which it imports the handler and asks the Runtime API for work. It serves
one invocation at a time and is never reused for another function or code generation.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from relay.runtime import api
from relay.runtime import lambda_errors as le
from relay.runtime.config import FunctionConfig, runtime_paths
from relay.runtime.freshness import Signature, parse_records

ENTRY = str(Path(__file__).with_name("worker_entry.py"))
RELAY_ROOT = str(Path(__file__).resolve().parent.parent.parent)
#: Lambda gives a function's init phase 10 s before it gives up on the environment.
INIT_LIMIT_S = 10.0

LogSink = Callable[[str, str, str], None]
LoadedSink = Callable[["Worker", list[tuple[str, Signature]]], None]
#: InvocationResult.logs keeps this much of what the handler printed (on_log gets it all).
MAX_KEPT_LOG_BYTES = 4 * 1024 * 1024
#: A longer unterminated line on the loaded-files pipe is not the entry's and is dropped.
MAX_LOADED_LINE = 64 * 1024
_PLATFORM_LINES = ("START RequestId: ", "END RequestId: ", "REPORT RequestId: ")
logger = logging.getLogger(__name__)
#: The request id of the one event a spare receives before it has a function.
WARM_UP_ID = "relay-spare-warm-up"


@dataclass
class InvocationResult:
    """The outcome of one invocation, as Lambda's Invoke API and CloudWatch would give it."""

    request_id: str
    payload: bytes
    function_error: str | None
    logs: str
    duration_ms: float
    billed_duration_ms: int
    max_memory_used_mb: int
    init_duration_ms: float | None


@dataclass
class Invocation:
    """An invocation on its way through a worker."""

    request_id: str
    payload: bytes
    deadline_ms: int | None = None
    client_context: str | None = None
    cognito_identity: str | None = None
    trace_id: str | None = None
    invoked_function_arn: str | None = None
    future: asyncio.Future[InvocationResult] | None = None
    lines: list[str] = field(default_factory=list)
    log_bytes: int = 0
    log_truncated: bool = False
    delivered_at: float | None = None
    timer: asyncio.TimerHandle | None = None


class State(Enum):
    SPARE = "spare"  # runtime client imported, no function yet
    INIT = "init"  # importing the handler
    IDLE = "idle"  # waiting on /next with nothing to do
    BUSY = "busy"  # an invocation is assigned
    DEAD = "dead"


def new_trace_id() -> str:
    """An X-Ray trace header as Lambda passes it (not sampled: nothing is sent to X-Ray)."""
    random = os.urandom(20).hex()  # one call: 24 hex digits for the root, 16 for the parent
    return f"Root=1-{int(time.time()):08x}-{random[:24]};Parent={random[24:]};Sampled=0"


def _max_rss_mb(status_fd: int) -> int | None:
    """Peak resident memory of the process, the figure Lambda reports as Max Memory Used.

    ``status_fd`` is the worker's /proc/PID/status, kept open: a pread from 0 renders it anew.
    """
    try:
        status = os.pread(status_fd, 4096, 0)
        start = status.index(b"VmHWM:") + 6
        return -(-int(status[start : status.index(b"kB", start)]) // 1024)
    except (OSError, ValueError):
        return None


class Worker(api.RuntimeApiHandler):
    """A worker process plus the Runtime API port it talks to."""

    def __init__(self) -> None:
        self.state = State.SPARE
        self.config: FunctionConfig | None = None
        self.generation = -1
        self.port = 0
        self.pid = 0
        self.enforce_timeouts = True
        self.on_log: LogSink | None = None
        self.on_state: Callable[[Worker], None] | None = None
        #: the files of the function this worker has read, in order, as it reported them
        self.loaded: list[tuple[str, Signature]] = []
        #: told of each new batch of ``loaded`` (the pool keeps its generation's files)
        self.on_loaded: LoadedSink | None = None
        self._server: asyncio.AbstractServer | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._log_fd = -1
        self._status_fd = -1
        self._loaded_fd = -1
        self._loaded_partial = b""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self._init_lines: list[str] = []
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
        read_fd, write_fd = os.pipe()
        loaded_read, loaded_write = os.pipe()
        # PYDEVD_DISABLE_FILE_VALIDATION: set by relay.debug.attach in debug mode only.
        passed = ("PATH", "LANG", "LC_ALL", "TMPDIR", "PYDEVD_DISABLE_FILE_VALIDATION")
        env = {k: v for k, v in os.environ.items() if k in passed}
        env.update(
            {
                "PYTHONPATH": os.pathsep.join(site_paths or runtime_paths()),
                "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{self.port}",
                "RELAY_ROOT": RELAY_ROOT,
                "RELAY_LOADED_FD": str(loaded_write),
            }
        )
        env.update(extra_env or {})
        self._spawned_at = time.perf_counter()
        try:
            self._proc = await asyncio.create_subprocess_exec(
                python or sys.executable,
                "-S",
                ENTRY,
                stdin=asyncio.subprocess.PIPE,
                stdout=write_fd,
                stderr=write_fd,
                env=env,
                start_new_session=True,
                pass_fds=(loaded_write,),
            )
        except BaseException:
            for fd in (read_fd, write_fd, loaded_read, loaded_write):
                os.close(fd)
            self._server.close()
            raise
        os.close(write_fd)
        os.close(loaded_write)
        self.pid = self._proc.pid
        with contextlib.suppress(OSError):
            self._status_fd = os.open(f"/proc/{self.pid}/status", os.O_RDONLY)
        os.set_blocking(read_fd, False)
        self._log_fd = read_fd
        asyncio.get_running_loop().add_reader(read_fd, self._read_logs)
        os.set_blocking(loaded_read, False)
        self._loaded_fd = loaded_read
        asyncio.get_running_loop().add_reader(loaded_read, self.read_loaded)
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
        self._proc.stdin.write(len(message).to_bytes(4, "big") + message)
        self._proc.stdin.close()
        if self.enforce_timeouts:
            self._init_timer = asyncio.get_running_loop().call_later(
                max(INIT_LIMIT_S, config.timeout), self._on_init_timeout
            )

    def kill(self, reason: str = "retired") -> None:
        """End the process (and anything it started) now."""
        if self._kill_reason is None:
            self._kill_reason = reason
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)

    async def close(self) -> None:
        self.kill("closed")
        with contextlib.suppress(asyncio.CancelledError):
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
        if not self._init_reported:
            self._read_logs()  # what init printed is in the pipe by now
        for line in self._init_lines:  # what init printed shows before START, as in CloudWatch
            self._emit_to(inv, line)
        self._init_lines.clear()
        self._emit_to(inv, le.start_line(inv.request_id))
        inv.delivered_at = time.perf_counter()
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
        self._read_logs()  # everything the handler printed before answering is in the pipe
        self.read_loaded()  # and every file it imported on the way
        if self._partial:  # a last line without its newline still belongs to this invocation
            partial, self._partial = self._partial, ""
            self._emit(partial)
        self._current = None
        if inv.timer is not None:
            inv.timer.cancel()
        assert self.config is not None
        duration = (
            (time.perf_counter() - inv.delivered_at) * 1000 if inv.delivered_at is not None else 0.0
        )
        if trailer is not None:
            duration = max(duration, self.config.timeout * 1000)
        memory = _max_rss_mb(self._status_fd) if self._status_fd >= 0 else None
        if memory is not None:
            self._max_memory_mb = memory
        init_ms = None
        if not self._init_reported and self._init_duration_ms is not None:
            init_ms = self._init_duration_ms
        self._init_reported = True
        if inv.delivered_at is None:
            # never reached the handler (init failed): show what init printed, then START
            for line in self._init_lines:
                self._emit_to(inv, line)
            self._init_lines.clear()
            self._emit_to(inv, le.start_line(inv.request_id))
        self._emit_to(inv, le.end_line(inv.request_id))
        self._emit_to(
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
            self._emit_to(inv, trailer)
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
            return 400, b'{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}'
        self._finish(body, None)
        return 202, b'{"status":"OK"}'

    def on_response_too_large(self, request_id: str, size: int) -> tuple[int, bytes]:
        if self._current is None or self._current.request_id != request_id:
            return 400, b'{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}'
        # awslambdaric exits on the 413, as in Lambda; never hand this worker out again
        self.kill("response too large")
        self._finish(le.response_too_large(size), "Unhandled")
        return 413, (
            b'{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).",'
            b'"errorType":"RequestEntityTooLarge"}'
        )

    def on_error(self, request_id: str, body: bytes, error_type: str | None) -> tuple[int, bytes]:
        if self._current is None or self._current.request_id != request_id:
            return 400, b'{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}'
        self._finish(body, "Unhandled")
        return 202, b'{"status":"OK"}'

    def on_init_error(self, body: bytes, error_type: str | None) -> tuple[int, bytes]:
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
        return 202, b'{"status":"OK"}'

    def on_connection_lost(self, conn: api.RuntimeApiConnection) -> None:
        if self._next_conn is conn:
            self._next_conn = None

    # loaded files -----------------------------------------------------------------------
    def read_loaded(self) -> None:
        """Take in what the worker has reported so far (non-blocking; cheap when nothing new)."""
        if self._loaded_fd < 0:
            return
        chunks = [self._loaded_partial]
        ended = False
        while True:
            try:
                chunk = os.read(self._loaded_fd, 65536)
            except BlockingIOError:
                break
            except OSError:
                chunk = b""
            if not chunk:
                ended = True
                break
            chunks.append(chunk)
        *lines, self._loaded_partial = b"".join(chunks).split(b"\n")
        if len(self._loaded_partial) > MAX_LOADED_LINE:  # not a record (the handler wrote it)
            self._loaded_partial = b""
        if ended:
            self._close_loaded()
        if not lines:
            return
        records = parse_records(lines)
        self.loaded.extend(records)
        if records and self.on_loaded is not None:
            self.on_loaded(self, records)

    def _close_loaded(self) -> None:
        if self._loaded_fd >= 0:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self._loaded_fd)
            os.close(self._loaded_fd)
            self._loaded_fd = -1
            self._loaded_partial = b""

    # logs ------------------------------------------------------------------------------
    def _read_logs(self) -> None:
        if self._log_fd < 0:
            return
        while True:
            try:
                chunk = os.read(self._log_fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self._close_logs()
                return
            text = self._partial + self._decoder.decode(chunk)
            *lines, self._partial = text.split("\n")
            for line in lines:
                self._emit(line)

    def _close_logs(self) -> None:
        if self._log_fd >= 0:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self._log_fd)
            os.close(self._log_fd)
            self._log_fd = -1
            tail = self._partial + self._decoder.decode(b"", final=True)
            self._partial = ""
            if tail:
                self._emit(tail)

    def _emit(self, line: str) -> None:
        # awslambdaric joins the lines of one error record with \r: one CloudWatch event
        for part in line.split("\r"):
            inv = self._current
            if inv is not None and inv.delivered_at is not None:
                self._emit_to(inv, part)
            else:
                self._init_lines.append(part)

    def _emit_to(self, inv: Invocation, line: str) -> None:
        if inv.log_bytes < MAX_KEPT_LOG_BYTES or line.startswith(_PLATFORM_LINES):
            inv.lines.append(line)
            inv.log_bytes += len(line) + 1
        else:
            if not inv.log_truncated:
                inv.lines.append(
                    f"relay: this invocation printed more than {MAX_KEPT_LOG_BYTES} bytes; "
                    "the rest went only to the live log"
                )
            inv.log_truncated = True
        if self.on_log is not None and self.config is not None:
            try:
                self.on_log(self.config.name, inv.request_id, line)
            except Exception:  # a broken log sink must not break the invocation
                logger.exception("relay: the on_log callback failed on %r", line)

    async def _watch_exit(self) -> None:
        assert self._proc is not None
        returncode = await self._proc.wait()
        self._read_logs()
        self._close_logs()
        self.read_loaded()
        self._close_loaded()
        if self._status_fd >= 0:
            os.close(self._status_fd)
            self._status_fd = -1
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
