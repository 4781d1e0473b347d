"""One invocation on its way through a worker, its log as CloudWatch would keep it, its result."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: (function name, request id, line): every line a worker prints, for the live view.
LogSink = Callable[[str, str, str], None]
#: InvocationResult.logs keeps this much of what the handler printed (on_log gets it all).
MAX_KEPT_LOG_BYTES = 4 * 1024 * 1024
_PLATFORM_LINES = ("START RequestId: ", "END RequestId: ", "REPORT RequestId: ")
logger = logging.getLogger(__name__)


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


def new_trace_id() -> str:
    """An X-Ray trace header as Lambda passes it (not sampled: nothing is sent to X-Ray)."""
    random = os.urandom(20).hex()  # one call: 24 hex digits for the root, 16 for the parent
    return f"Root=1-{int(time.time()):08x}-{random[:24]};Parent={random[24:]};Sampled=0"


class WorkerLog:
    """Where a worker's output lines go: the invocation the handler is running, or (during
    init and between invocations) kept to show before the next invocation's START line, as
    CloudWatch does. Every line also goes to ``on_log``."""

    def __init__(self) -> None:
        self.on_log: LogSink | None = None
        self.function = ""
        #: the invocation whose handler is running (delivered, not finished)
        self.target: Invocation | None = None
        self._pending: list[str] = []

    def lines(self, lines: list[str]) -> None:
        for line in lines:
            # awslambdaric joins the lines of one error record with \r: one CloudWatch event
            for part in line.split("\r"):
                if self.target is not None:
                    self.keep(self.target, part)
                else:
                    self._pending.append(part)

    def flush_pending(self, inv: Invocation) -> None:
        """What was printed before ``inv`` started (init output) goes first in its log."""
        for line in self._pending:
            self.keep(inv, line)
        self._pending.clear()

    def keep(self, inv: Invocation, line: str) -> None:
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
        if self.on_log is not None:
            try:
                self.on_log(self.function, inv.request_id, line)
            except Exception:  # a broken log sink must not break the invocation
                logger.exception("relay: the on_log callback failed on %r", line)
