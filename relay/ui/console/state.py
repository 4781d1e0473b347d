"""What the console knows: the recent invocations (by id) and each function's standing.

Kept in memory only, for this `relay start`; the page asks for an invocation's event, result
and logs when it is opened, so the live updates stay small.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from relay.observe.invocations import InvocationEvent
from relay.record.recording import decode_payload, record_id
from relay.record.redact import redact
from relay.record.triggers import guess_trigger

#: The page shows at most this many invocations; older ones fall off the end.
KEEP = 500


@dataclass
class FunctionStanding:
    name: str
    path: str
    invocations: int = 0
    errors: int = 0
    last_error: str | None = None


class ConsoleState:
    def __init__(self, functions: dict[str, str], redact_paths: list[str] | None = None) -> None:
        """``functions``: function name -> construct path; the page shows events and results
        masked as recordings are (``redact_paths`` and secret headers)."""
        self.redact_paths = list(redact_paths or [])
        self.invocations: OrderedDict[str, InvocationEvent] = OrderedDict()
        self.functions = {name: FunctionStanding(name, path) for name, path in functions.items()}
        self._started: dict[str, float] = {}

    def add(self, event: InvocationEvent) -> dict[str, Any]:
        """Take an event in; its table row (what the page gets live)."""
        self.keep(event)
        return self.row(event)

    def keep(self, event: InvocationEvent) -> None:
        """Take an event in without its row (no page open: nothing to send it to)."""
        key = event.invocation_id
        if event.status == "running":
            self._started[key] = event.at
        else:
            standing = self.functions.get(event.function)
            if standing is None:
                path = event.context.function_path if event.context else ""
                standing = self.functions[event.function] = FunctionStanding(event.function, path)
            standing.invocations += 1
            if event.status != "ok":
                standing.errors += 1
                standing.last_error = f"{event.error_type or 'Error'}: {event.error_message or ''}"
        self.invocations[key] = event
        self.invocations.move_to_end(key)
        while len(self.invocations) > KEEP:
            old, _ = self.invocations.popitem(last=False)
            self._started.pop(old, None)

    def row(self, event: InvocationEvent) -> dict[str, Any]:
        standing = self.functions.get(event.function)
        payload, _ = decode_payload(event.payload)
        trigger = (event.context.trigger if event.context else None) or (
            guess_trigger(payload) if event.payload is not None else ""
        )
        return {
            "id": event.invocation_id,
            "record": record_id(event),
            "at": self._started.get(event.invocation_id, event.at),
            "function": event.function,
            "path": standing.path if standing else "",
            "trigger": trigger,
            "status": event.status,
            "duration_ms": event.duration_ms,
            "cold": event.cold,
            "source": event.source,
            "error": f"{event.error_type or ''}: {event.error_message or ''}".strip(": ")
            if event.status not in ("ok", "running")
            else None,
            "differs": event.cloud_result is not None and bool(observed_differences(event)),
        }

    def detail(self, key: str) -> dict[str, Any] | None:
        event = self.invocations.get(key)
        if event is None:
            return None
        detail = self.row(event)
        detail.update(
            event=_pretty(event.payload, self.redact_paths),
            result=_pretty(event.result, self.redact_paths),
            logs=event.logs,
            context=_context(event),
        )
        if event.cloud_result is not None:
            detail["cloud_result"] = _pretty(event.cloud_result, self.redact_paths)
            detail["differences"] = observed_differences(event)
        return detail

    def standings(self, reloads: dict[str, int]) -> list[dict[str, Any]]:
        return [
            {
                "name": s.name,
                "path": s.path,
                "invocations": s.invocations,
                "errors": s.errors,
                "reloads": reloads.get(s.name, 0),
                "last_error": s.last_error,
            }
            for s in sorted(self.functions.values(), key=lambda s: s.path or s.name)
        ]


def observed_differences(event: InvocationEvent) -> list[str]:
    """Observe mode: where the local answer differs from the cloud's."""
    from relay.record.differences import differences

    local, _ = decode_payload(event.result)
    cloud, _ = decode_payload(event.cloud_result)
    local_failed, cloud_failed = event.status != "ok", bool(event.cloud_error)
    if local_failed != cloud_failed:
        return [f"status: {'error' if cloud_failed else 'ok'} != {event.status}"]
    if local_failed:  # request ids and stack traces always differ: compare what failed
        keys = ("errorType", "errorMessage")
        cloud = {k: (cloud or {}).get(k) for k in keys} if isinstance(cloud, dict) else cloud
        local = {k: (local or {}).get(k) for k in keys} if isinstance(local, dict) else local
    return differences(cloud, local)


def _pretty(data: bytes | None, redact_paths: list[str]) -> str:
    if data is None:
        return ""
    value, text = decode_payload(data)
    if text is not None:
        return text
    return json.dumps(redact(value, redact_paths)[0], indent=2, ensure_ascii=False)


def _context(event: InvocationEvent) -> dict[str, Any]:
    if event.context is None:
        return {}
    c = event.context
    return {
        "function_name": c.function_name,
        "function_version": c.function_version,
        "invoked_function_arn": c.invoked_function_arn,
        "memory_mb": c.memory_mb,
        "timeout_s": c.timeout_s,
        "request_id": event.request_id,
        "log_stream": c.log_stream,
        "handler": c.handler,
    }
