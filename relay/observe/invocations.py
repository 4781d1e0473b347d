"""The one observer seam: every invocation the local runtime runs for a live stage, whichever
way it arrived (relayed by the client, handed over directly by the emulator's front doors,
copied by observe mode, or replayed), is published here as :class:`InvocationEvent`.

The live view, the recorder and the web console subscribe beside each other, so none of
them lives inside the client's internals. An event carries what a recording needs and
nothing secret: never the function's environment, role credentials or the stub's headers.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("relay.observe.invocations")


@dataclass(frozen=True)
class InvocationContext:
    """The Lambda context fields of one invocation (what ``context`` gave the handler)."""

    function_name: str
    function_version: str = "$LATEST"
    invoked_function_arn: str = ""
    memory_mb: int = 128
    timeout_s: float = 3.0
    region: str = ""
    log_group: str = ""
    log_stream: str = ""
    client_context: str | None = None
    cognito_identity: str | None = None
    function_path: str = ""  # the CDK construct path, when known
    trigger: str | None = None  # set by an emitter that knows (a front door); else guessed
    # what replaying needs: the handler and where its code lives (paths, not contents)
    handler: str = ""
    code_dir: str = ""
    layers: tuple[str, ...] = ()
    #: PythonLayerVersion folders (their contents go under python/) and Lambda's runtime name:
    #: without them a replay misses the layer's modules and the function's own packages
    source_layers: tuple[str, ...] = ()
    runtime: str = ""


@dataclass(frozen=True)
class InvocationEvent:
    """One invocation's state: ``running``, then ``ok``, ``error`` or ``relay-error``.

    Finished events carry ``payload`` (the event bytes), ``result`` (the response or Lambda's
    error JSON), ``context`` and ``cold``; ``source`` says how the invocation arrived.
    """

    function: str
    request_id: str
    invocation_id: str
    status: str
    duration_ms: float | None = None
    error_type: str | None = None
    error_message: str | None = None
    logs: str = ""
    context: InvocationContext | None = None
    payload: bytes | None = field(default=None, repr=False)
    result: bytes | None = field(default=None, repr=False)
    cold: bool | None = None
    source: str = "relay"  # relay, direct, observe or replay
    at: float = field(default_factory=time.time)  # when the event was published (epoch s)
    #: observe mode: what the cloud answered for the same event (function error or not)
    cloud_result: bytes | None = field(default=None, repr=False)
    cloud_error: bool | None = None

    @property
    def finished(self) -> bool:
        return self.status != "running"


Subscriber = Callable[[InvocationEvent], Any]


class InvocationFeed:
    """Fans each published event out to its subscribers; one failing subscriber never stops
    the others or the invocation."""

    def __init__(self, *subscribers: Subscriber) -> None:
        self._subscribers: list[Subscriber] = list(subscribers)

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def publish(self, event: InvocationEvent) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:
                log.exception("relay: an invocation subscriber (%r) failed", subscriber)


def finished(
    context: InvocationContext,
    request_id: str,
    invocation_id: str,
    payload: bytes,
    result: Any,
    *,
    source: str,
) -> InvocationEvent:
    """The ``ok``/``error`` event of a runtime result (an ``InvocationResult``)."""
    error: dict[str, Any] = {}
    if result.function_error:
        try:
            document = json.loads(result.payload)
        except ValueError:
            document = None
        error = document if isinstance(document, dict) else {}
    return InvocationEvent(
        function=context.function_name,
        request_id=request_id,
        invocation_id=invocation_id,
        status="error" if result.function_error else "ok",
        duration_ms=result.duration_ms,
        error_type=error.get("errorType"),
        error_message=error.get("errorMessage"),
        logs=result.logs,
        context=context,
        payload=payload,
        result=result.payload,
        cold=result.init_duration_ms is not None,
        source=source,
    )


def context_of(config: Any, *, function_path: str = "", **fields: Any) -> InvocationContext:
    """The context fields of a ``FunctionConfig`` (never its environment).

    The same for most invocations of a function, so the last ones made are handed out again
    (a config is frozen; the cache holds it, so its id stays its own): building one cost the
    serving loop a few µs per invocation.
    """
    key = (id(config), function_path, *fields.items())
    try:
        cached = _CONTEXTS.get(key)
    except TypeError:  # a field that cannot be a key: made afresh
        return _context_of(config, function_path, fields)
    if cached is not None and cached[0] is config:
        return cached[1]
    context = _context_of(config, function_path, fields)
    if len(_CONTEXTS) >= _MAX_CONTEXTS:
        _CONTEXTS.clear()
    _CONTEXTS[key] = (config, context)
    return context


#: context_of's recent results, by config and fields.
_CONTEXTS: dict[tuple[Any, ...], tuple[Any, InvocationContext]] = {}
_MAX_CONTEXTS = 256


def _context_of(config: Any, function_path: str, fields: dict[str, Any]) -> InvocationContext:
    fields = dict(fields)
    return InvocationContext(
        function_name=config.name,
        invoked_function_arn=fields.pop("invoked_function_arn", None) or config.arn,
        memory_mb=config.memory_mb,
        timeout_s=config.timeout,
        region=config.region,
        log_group=f"/aws/lambda/{config.name}",
        function_path=function_path,
        handler=config.handler,
        code_dir=str(config.code_dir),
        layers=tuple(str(p) for p in config.layers),
        source_layers=tuple(str(p) for p in config.source_layers),
        runtime=config.runtime,
        **fields,
    )
