"""Error payloads and log lines that Lambda itself (not the runtime client) produces."""

from __future__ import annotations

import json
import math
import signal
from datetime import UTC, datetime

#: Lambda's synchronous response limit, as its error message states it.
MAX_RESPONSE_BYTES = 6291556


def _json(obj: dict[str, str]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def rfc3339_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def timeout_message(request_id: str, timeout: float) -> str:
    return f"{rfc3339_now()} {request_id} Task timed out after {timeout:.2f} seconds"


def timeout_error(message: str) -> bytes:
    """The Python runtime's timeout payload: only errorMessage, no type or stack."""
    return _json({"errorMessage": message})


def exit_reason(returncode: int) -> str:
    """The process state as Lambda's (Go) runtime manager words it."""
    if returncode >= 0:
        return f"exit status {returncode}"
    signum = -returncode
    try:
        name = signal.strsignal(signum) or f"signal {signum}"
    except ValueError:
        name = f"signal {signum}"
    return f"signal: {name[0].lower()}{name[1:]}"


def exit_error(request_id: str, returncode: int) -> bytes:
    if returncode == 0:
        reason = "Runtime exited without providing a reason"
    else:
        reason = f"Runtime exited with error: {exit_reason(returncode)}"
    return _json(
        {
            "errorType": "Runtime.ExitError",
            "errorMessage": f"RequestId: {request_id} Error: {reason}",
        }
    )


def response_too_large(size: int) -> bytes:
    return _json(
        {
            "errorMessage": f"Response payload size ({size} bytes) exceeded maximum allowed "
            f"payload size ({MAX_RESPONSE_BYTES} bytes).",
            "errorType": "Function.ResponseSizeTooLarge",
        }
    )


def start_line(request_id: str) -> str:
    return f"START RequestId: {request_id} Version: $LATEST"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}"


def billed_ms(duration_ms: float) -> int:
    return max(1, math.ceil(duration_ms))


def report_line(
    request_id: str,
    *,
    duration_ms: float,
    memory_mb: int,
    max_memory_used_mb: int,
    init_duration_ms: float | None,
) -> str:
    line = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {billed_ms(duration_ms)} ms\tMemory Size: {memory_mb} MB\t"
        f"Max Memory Used: {max_memory_used_mb} MB\t"
    )
    if init_duration_ms is not None:
        line += f"Init Duration: {init_duration_ms:.2f} ms\t"
    return line
