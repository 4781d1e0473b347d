"""Run a handler through relay's local runtime from a test, as Lambda would run it.

``relay replay ID --as-test`` writes tests that call :func:`invoke_handler`; it is also
handy in hand-written tests: the handler runs in a real awslambdaric worker process with
Lambda's context, environment and error shapes, not as a plain function call.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from relay.runtime import FunctionConfig, InvocationResult, LocalRuntime
from relay.runtime.envs import EnvBuilder


def invoke_handler(
    handler: str,
    code_dir: str | Path,
    event: Any,
    *,
    layers: Sequence[str | Path] = (),
    source_layers: Sequence[str | Path] = (),
    runtime: str = "",
    timeout: float = 3.0,
    memory_mb: int = 128,
    environment: Mapping[str, str] | None = None,
    function_name: str | None = None,
) -> InvocationResult:
    """Invoke ``handler`` (``module.function``) from ``code_dir`` once with ``event``.

    ``event`` is any JSON value, or ``bytes`` sent unchanged. The result's ``payload`` is the
    response bytes; ``function_error`` is set (and ``payload`` is Lambda's error JSON) when
    the handler raised. ``source_layers`` are layer folders whose contents Lambda gets under
    ``python/`` (CDK's ``PythonLayerVersion``); ``runtime`` is Lambda's runtime name
    (``python3.12``). The packages the code and layers declare (requirements.txt) are
    installed into the environment `relay start` builds for them, once, and cached.
    """
    name = function_name or re.sub(r"[^A-Za-z0-9_-]+", "-", handler).strip("-")[:64]
    config = FunctionConfig(
        name=name or "relay-test",
        handler=handler,
        code_dir=Path(code_dir),
        layers=tuple(Path(p) for p in layers),
        source_layers=tuple(Path(p) for p in source_layers),
        runtime=runtime,
        environment=dict(environment or {}),
        timeout=timeout,
        memory_mb=memory_mb,
    )
    payload = event if isinstance(event, bytes) else json.dumps(event).encode()
    return asyncio.run(_invoke_once(config, payload))


async def _invoke_once(config: FunctionConfig, payload: bytes) -> InvocationResult:
    async with LocalRuntime(watch=False, spares=0, envs=EnvBuilder()) as runtime:
        runtime.configure(config)
        return await runtime.invoke(config.name, payload)


def error_of(result: InvocationResult) -> dict[str, Any] | None:
    """Lambda's error document of a failed invocation (errorType, errorMessage, stackTrace)."""
    if not result.function_error:
        return None
    try:
        document = json.loads(result.payload)
    except ValueError:
        return {"errorMessage": result.payload.decode(errors="replace")}
    return document if isinstance(document, dict) else {"errorMessage": str(document)}
