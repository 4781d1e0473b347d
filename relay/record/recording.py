"""An :class:`~relay.observe.invocations.InvocationEvent` as a recording (a JSON document), and back
into what a replay needs. Masking happens here, before anything reaches the disk."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from relay.observe.invocations import InvocationEvent
from relay.record.redact import may_need_masking, redact
from relay.record.triggers import guess_trigger

_FUNCTION_KEYS = ("handler", "code_dir", "layers", "source_layers", "runtime", "function_path")
#: A recording larger than this keeps its event and result out, with their size (store.py
#: checks the encoded line; ``to_record`` skips payloads whose bytes alone are over it).
MAX_RECORD_BYTES = 2 * 1024 * 1024


def decode_payload(data: bytes | None) -> tuple[Any, str | None]:
    """(JSON value, None) when the bytes are JSON, else (None, the bytes as text/base64)."""
    if data is None:
        return None, None
    try:
        return json.loads(data), None
    except ValueError:
        try:
            return None, data.decode()
        except UnicodeDecodeError:
            return None, "base64:" + base64.b64encode(data).decode()


def record_id(event: InvocationEvent) -> str:
    """The recording's short id, known to every subscriber without asking the recorder."""
    return hashlib.sha256(event.invocation_id.encode()).hexdigest()[:8]


def to_record(
    event: InvocationEvent, stage: str, redact_paths: list[str], *, unparsed: bool = False
) -> dict[str, Any]:
    """The document stored for one finished invocation (event, context, result; no secrets).

    ``unparsed`` (the recorder): an event or result with nothing to mask is kept as its JSON
    text (``event_json``/``result_json``), which ``inflate`` parses when it is read. Parsing
    and serialising them again was most of what a recording cost relay while serving.
    """
    # the trigger is guessed from the parsed event when no front door said which it was
    trigger = event.context.trigger if event.context else None
    size = len(event.payload or b"") + len(event.result or b"")
    too_large = unparsed and size > MAX_RECORD_BYTES
    if too_large:
        # kept out anyway: scanning, decoding and encoding megabytes held the GIL for tens of
        # ms while relay served (a 6 MB response: ~50 ms)
        small = event.payload is not None and len(event.payload) <= MAX_RECORD_BYTES
        guess = decode_payload(event.payload)[0] if not trigger and small else None
        payload_json = payload = payload_text = result_json = result = result_text = None
        masked: list[str] = []
        masked_result: list[str] = []
    else:
        payload_json, payload, payload_text, masked = _stored(
            event.payload, redact_paths, unparsed=unparsed and bool(trigger)
        )
        result_json, result, result_text, masked_result = _stored(
            event.result, redact_paths, unparsed=unparsed
        )
        guess = payload
    # a shallow copy (its fields are scalars and a tuple): asdict's deep copy cost more
    context = dict(vars(event.context)) if event.context else {"function_name": event.function}
    function = {key: context.pop(key, "") for key in _FUNCTION_KEYS}
    for key in ("layers", "source_layers"):
        function[key] = list(function[key] or [])
    trigger = context.pop("trigger", None) or guess_trigger(guess)
    record: dict[str, Any] = {
        "id": record_id(event),
        "format": 1,
        "at": round(event.at, 3),
        "time": datetime.fromtimestamp(event.at, UTC).isoformat(timespec="milliseconds"),
        "stage": stage,
        "source": event.source,
        "function": {"name": event.function, **function},
        "trigger": trigger,
        "request_id": event.request_id,
        "context": context,
        "status": event.status,
        "duration_ms": event.duration_ms,
        "cold": event.cold,
        "event": payload,
        "result": result,
        "logs": event.logs,
        "redacted": masked + [f"result.{p}" for p in masked_result],
    }
    if payload_json is not None:
        record["event_json"] = payload_json
    if result_json is not None:
        record["result_json"] = result_json
    if payload_text is not None:
        record["event_text"] = payload_text
    if result_text is not None:
        record["result_text"] = result_text
    if too_large:
        record["truncated"] = size
    if event.status == "error":
        record["error"] = {"type": event.error_type, "message": event.error_message}
    if event.cloud_result is not None:
        _, cloud, cloud_text, _ = _stored(event.cloud_result, [], unparsed=False)
        record["cloud"] = {
            "status": "error" if event.cloud_error else "ok",
            "result": cloud,
            **({"result_text": cloud_text} if cloud_text is not None else {}),
        }
    return record


def inflate(record: dict[str, Any]) -> dict[str, Any]:
    """A stored recording as ``to_record`` makes it without ``unparsed``: kept JSON texts
    parsed (``event_text``/``result_text`` if one is not JSON after all)."""
    for key in ("event", "result"):
        text = record.pop(f"{key}_json", None)
        if isinstance(text, str):
            record[key], other = decode_payload(text.encode())
            if other is not None:
                record[f"{key}_text"] = other
    return record


#: Above this many bytes a payload of few objects and arrays is parsed and walked instead of
#: scanned (below, the scan costs less than a parse and the encoding of the parsed value).
_WALK_ABOVE = 16 * 1024
#: At most this many objects and arrays: the walk (Python, per object) stays cheap.
_WALK_CONTAINERS = 64


def _containers(data: bytes) -> int:
    """An upper bound of the objects and arrays in JSON ``data`` (brackets inside strings
    count too): two passes in C."""
    return data.count(b"{") + data.count(b"[")


def _stored(
    data: bytes | None, paths: list[str], *, unparsed: bool
) -> tuple[str | None, Any, str | None, list[str]]:
    """(JSON text kept unparsed, value, text, masked paths): with ``unparsed``, bytes where
    nothing can need masking (so ASCII) are kept as they are; otherwise ``decode_payload``
    with secrets and ``paths`` masked (no walk when nothing can be). One scan, or for a large
    payload of few objects one parse, either way."""
    if data is not None and len(data) > _WALK_ABOVE and _containers(data) <= _WALK_CONTAINERS:
        # a large payload of few objects (an HTML page or a file in a body): parsing it and
        # walking its few keys is the masking itself, and costs far less than looking for
        # every secret word in its bytes (200 KB: ~0.09 against ~1.2 ms)
        needs = True
    else:
        needs = data is not None and may_need_masking(data, paths)
    if unparsed and data is not None and not needs:
        return data.decode("ascii"), None, None, []
    value, text = decode_payload(data)
    if not needs or text is not None:
        return None, value, text, []
    value, masked = redact(value, paths)
    return None, value, text, masked


def event_bytes(record: dict[str, Any]) -> bytes:
    """The recorded event as the payload bytes a replay sends."""
    text = record.get("event_text")
    if text is not None:
        if text.startswith("base64:"):
            return base64.b64decode(text[7:])
        return text.encode()
    return json.dumps(record.get("event")).encode()
