"""How every front door calls a function: through `FunctionRegistry.invoke` (the one entry
point the Lambda API and function URLs use), with the front's integration timeout.

A front that gives up at its timeout does not cancel the invocation: like API Gateway, it
answers the caller while the function runs on to its own timeout.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from relay.emulator import ids

if TYPE_CHECKING:
    from relay.emulator.functions import FunctionRegistry
    from relay.runtime import InvocationResult

log = logging.getLogger("relay.emulator")

_running: set[asyncio.Task[InvocationResult]] = set()


@dataclass(frozen=True)
class InvokeOutcome:
    result: InvocationResult | None  # None: unknown function or timed out
    timed_out: bool = False


async def invoke_with_timeout(
    functions: FunctionRegistry,
    name: str | None,
    payload: bytes,
    *,
    timeout: float | None,  # noqa: ASYNC109 (the front door's own limit, reported as its error)
    where: str,
) -> InvokeOutcome:
    function = functions.get(name) if name else None
    if function is None:
        log.warning("emulator: %s: function %s is not in the emulator", where, name)
        return InvokeOutcome(None)
    task = asyncio.ensure_future(functions.invoke(function, payload, request_id=ids.request_id()))
    _running.add(task)
    task.add_done_callback(_running.discard)
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        log.warning("emulator: %s: %s did not answer within %.0f s", where, name, timeout)
        return InvokeOutcome(None, timed_out=True)
    return InvokeOutcome(task.result())
