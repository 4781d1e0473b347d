"""Messages between the stub (in AWS) and the relay client (on the laptop).

Sans-I/O and stdlib only: this file is copied verbatim into the stub asset, where it is
imported as the top-level module ``messages``; it must import on every Python runtime
Lambda supports (3.9+: no ``X | Y`` evaluated at import). Both ends encode with
:func:`encode`, decode with :func:`decode` (which validates every field and raises
:class:`ProtocolError` for anything else), decide inline vs S3 overflow with
:func:`plan_outbound`.

Wire format: one JSON object per WebSocket message, ``{"v": 1, "type": ..., ...}``.
Payloads (events, results, Lambda error JSON) travel as text when they are UTF-8 (the usual
case, so they stay byte for byte) and as base64 otherwise.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any, Union, cast

VERSION = 1
# API Gateway WebSocket caps a message at 128 KB; leave room for the envelope and base64.
INLINE_LIMIT = 96 * 1024
MESSAGE_LIMIT = 128 * 1024
# ...and a frame a client sends at 32 KB: larger messages must be sent as fragments.
FRAME_LIMIT = 32 * 1024
# Lambda's synchronous payload limit; an overflow pointer may not claim more.
MAX_PAYLOAD = 6 * 1024 * 1024 + 1024 * 1024

_MAX_ID = 512


class ProtocolError(ValueError):
    """A message that is not valid relay protocol; the text says what is wrong."""


@dataclass(frozen=True)
class Credentials:
    """Temporary role credentials (kept out of reprs so they never reach a log)."""

    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Hello:
    """Sent on the ``$default`` route to learn one's own connection id (cold path)."""

    role: str  # "stub" or "client"
    stage: str
    nonce: str = ""  # echoed in the welcome, so a late welcome is not taken for this one
    type = "hello"


@dataclass(frozen=True)
class Welcome:
    """The connect handler's answer to ``hello``."""

    stage: str
    connection_id: str  # the asker's own connection id
    client_id: str | None  # the stage's current client connection, None when none runs
    nonce: str = ""  # the hello's
    type = "welcome"


@dataclass(frozen=True)
class Invoke:
    """One invocation, from the stub to the client, with everything Lambda gave the stub."""

    id: str  # per-invocation id (the stub's), unique across retries of the same request
    reply_to: str  # the stub's connection id
    stage: str
    function_name: str
    request_id: str
    deadline_ms: int
    payload: bytes = field(repr=False)
    invoked_function_arn: str = ""
    function_version: str = "$LATEST"
    memory_mb: int = 128
    log_group: str = ""
    log_stream: str = ""
    region: str = ""
    handler: str = ""  # RELAY_ORIGINAL_HANDLER
    function_path: str = ""  # RELAY_FUNCTION_PATH (construct path)
    bucket: str | None = None  # RELAY_BUCKET: where the client puts an oversized answer
    client_context: str | None = None
    cognito_identity: str | None = None
    trace_id: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict, repr=False)
    credentials: Credentials | None = field(default=None, repr=False)
    # Set when the stub posts this invocation again after a post that was delivered: the
    # client connection that got it first. A client that never had that connection (it is
    # a restarted ``relay start``) answers with an error instead of running it a second time.
    first_to: str | None = None
    # Observe mode: the real code already answered in the cloud; this is a copy for the
    # client to run too and compare (``cloud_result``: the response or Lambda's error JSON,
    # ``cloud_error``: the function error type when it failed). Nothing is answered.
    cloud_result: bytes | None = field(default=None, repr=False)
    cloud_error: str | None = None
    type = "invoke"


@dataclass(frozen=True)
class Ack:
    """The client has the invocation and it is still running (sent after 250 ms only)."""

    id: str
    type = "ack"


@dataclass(frozen=True)
class Result:
    """The handler's response bytes, exactly as the local runtime produced them."""

    id: str
    payload: bytes = field(repr=False)
    duration_ms: float = 0.0
    type = "result"


@dataclass(frozen=True)
class Error:
    """A function error: ``payload`` is Lambda's error JSON exactly as produced."""

    id: str
    payload: bytes = field(repr=False)
    duration_ms: float = 0.0
    type = "error"

    def __post_init__(self) -> None:
        _error_document(self.payload)

    @property
    def error_type(self) -> str:
        """Empty for Lambda's own timeout error, which has only ``errorMessage``."""
        return str(_error_document(self.payload).get("errorType", ""))

    @property
    def error_message(self) -> str:
        return str(_error_document(self.payload).get("errorMessage", ""))

    @property
    def is_timeout(self) -> bool:
        """Lambda's timeout error: ``{"errorMessage": "<time> <id> Task timed out after N
        seconds"}``, reported by the platform rather than the function."""
        doc = _error_document(self.payload)
        message = doc.get("errorMessage", "")
        return "errorType" not in doc and " Task timed out after " in message

    @property
    def stack_trace(self) -> list[str]:
        return list(_error_document(self.payload).get("stackTrace") or [])


@dataclass(frozen=True)
class Log:
    """Log lines of a running invocation (so the stub can echo them to CloudWatch)."""

    id: str
    text: str
    type = "log"


@dataclass(frozen=True)
class Replaced:
    """Told to a client when a newer ``relay start`` took its stage over."""

    stage: str
    by: str | None = None
    type = "replaced"


@dataclass(frozen=True)
class Ping:
    """Keeps API Gateway's 10-minute idle timer away while nothing else is said."""

    nonce: str
    type = "ping"


@dataclass(frozen=True)
class Pong:
    nonce: str
    type = "pong"


@dataclass(frozen=True)
class Overflow:
    """Points at an S3 object holding a whole encoded message too large to send inline.

    An invoke's environment and role credentials never go to S3 (they must stay in memory):
    the stored message has them removed and they ride inline here instead.
    """

    bucket: str
    key: str
    size: int
    environment: Mapping[str, str] = field(default_factory=dict, repr=False)
    credentials: Credentials | None = field(default=None, repr=False)
    type = "overflow"


Message = Union[Hello, Welcome, Invoke, Ack, Result, Error, Log, Replaced, Ping, Pong, Overflow]  # noqa: UP007
MESSAGE_TYPES: dict[str, type[Any]] = {
    cls.type: cls
    for cls in (Hello, Welcome, Invoke, Ack, Result, Error, Log, Replaced, Ping, Pong, Overflow)
}
# Messages that answer an invocation in flight (by its id).
Answer = Union[Ack, Result, Error, Log]  # noqa: UP007
ROLES = ("stub", "client")


# --- encoding ---------------------------------------------------------------------------


def encode(message: Message) -> str:
    """The JSON text of a message (UTF-8 on the wire, non-ASCII kept as is)."""
    body: dict[str, Any] = {"v": VERSION, "type": message.type}
    for f in fields(message):
        value = getattr(message, f.name)
        if isinstance(value, bytes):
            try:
                body[f.name] = value.decode("utf-8")
            except UnicodeDecodeError:
                body[f.name] = base64.b64encode(value).decode("ascii")
                body[f.name + "_encoding"] = "base64"
        elif isinstance(value, Credentials):
            body[f.name] = {
                "access_key_id": value.access_key_id,
                "secret_access_key": value.secret_access_key,
                "session_token": value.session_token,
            }
        elif isinstance(value, Mapping):
            body[f.name] = dict(value)
        else:
            body[f.name] = value
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def encode_bytes(message: Message) -> bytes:
    return encode(message).encode("utf-8")


# --- decoding ---------------------------------------------------------------------------


def decode(data: str | bytes | bytearray | memoryview) -> Message:
    """Parse and validate one message; anything else raises :class:`ProtocolError`."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"message is not UTF-8 text: {exc}") from None
    if not isinstance(data, str):
        raise ProtocolError(f"message must be text or bytes, not {type(data).__name__}")
    try:
        body = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"message is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ProtocolError("message must be a JSON object with 'v' and 'type'")
    version = body.pop("v", None)
    if version != VERSION:
        if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
            raise ProtocolError(
                f"message uses relay protocol version {version}, this side speaks {VERSION}: "
                "upgrade relay (pip install -U relay-lambda) and redeploy with `relay start`"
            )
        raise ProtocolError(
            f"message has protocol version {version!r}, expected {VERSION}: "
            "both sides must run the same relay release (upgrade the older one)"
        )
    kind = body.pop("type", None)
    cls = MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ProtocolError(
            f"unknown message type {kind!r} (expected one of {', '.join(MESSAGE_TYPES)})"
        )
    values: dict[str, Any] = {}
    for f in fields(cls):
        name = f.name
        encoding = body.pop(name + "_encoding", None) if f.type == "bytes" else None
        if name not in body:
            if _has_default(f):
                continue
            raise ProtocolError(f"{kind} message lacks the field {name!r}")
        values[name] = _check(kind, name, str(f.type), body.pop(name), encoding)
    if body:
        extra = ", ".join(sorted(map(repr, body)))
        raise ProtocolError(f"{kind} message has unknown field(s) {extra}")
    try:
        message = cls(**values)
    except ProtocolError:
        raise
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"{kind} message is invalid: {exc}") from None
    _check_semantics(message)
    return cast(Message, message)


def _has_default(f: Any) -> bool:
    return f.default is not MISSING or f.default_factory is not MISSING


def _check(kind: str, name: str, annotation: str, value: Any, encoding: Any) -> Any:
    where = f"{kind}.{name}"
    optional = annotation.endswith("| None")
    if optional and value is None:
        return None
    base = annotation.removesuffix(" | None")
    if base == "str":
        if not isinstance(value, str):
            raise ProtocolError(f"{where} must be a string, not {_kind_of(value)}")
        if name in ("id", "reply_to", "connection_id", "client_id", "first_to") and not (
            0 < len(value) <= _MAX_ID
        ):
            raise ProtocolError(f"{where} must be 1..{_MAX_ID} characters long")
        return value
    if base == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise ProtocolError(f"{where} must be an integer, not {_kind_of(value)}")
        if value < 0:
            raise ProtocolError(f"{where} must not be negative")
        return value
    if base == "float":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ProtocolError(f"{where} must be a number, not {_kind_of(value)}")
        if not math.isfinite(value) or value < 0:
            raise ProtocolError(f"{where} must be a finite, non-negative number")
        return float(value)
    if base == "bytes":
        if not isinstance(value, str):
            raise ProtocolError(f"{where} must be a string, not {_kind_of(value)}")
        if encoding is None:
            return value.encode("utf-8", "surrogatepass")
        if encoding != "base64":
            raise ProtocolError(f"{where}_encoding must be 'base64', not {encoding!r}")
        try:
            return base64.b64decode(value.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise ProtocolError(f"{where} is not valid base64") from None
    if base == "Mapping[str, str]":
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise ProtocolError(f"{where} must be an object of string values")
        return value
    if base == "Credentials":
        if not isinstance(value, dict):
            raise ProtocolError(f"{where} must be an object, not {_kind_of(value)}")
        extra = set(value) - {"access_key_id", "secret_access_key", "session_token"}
        if extra:
            raise ProtocolError(f"{where} has unknown field(s) {sorted(extra)}")
        key, secret = value.get("access_key_id"), value.get("secret_access_key")
        token = value.get("session_token")
        if not isinstance(key, str) or not key or not isinstance(secret, str) or not secret:
            raise ProtocolError(f"{where} needs non-empty access_key_id and secret_access_key")
        if token is not None and not isinstance(token, str):
            raise ProtocolError(f"{where}.session_token must be a string or null")
        return Credentials(key, secret, token)
    raise AssertionError(f"no validator for {annotation}")  # pragma: no cover


def _kind_of(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _check_semantics(message: Message) -> None:
    if isinstance(message, Hello) and message.role not in ROLES:
        raise ProtocolError(f"hello.role must be one of {ROLES}, not {message.role!r}")
    if isinstance(message, Overflow):
        if not message.bucket or not message.key:
            raise ProtocolError("overflow message needs a bucket and a key")
        if message.size > MAX_PAYLOAD * 2:
            raise ProtocolError(f"overflow message claims {message.size} bytes, too large")


def _error_document(payload: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError):
        raise ProtocolError("error.payload must be Lambda's error JSON") from None
    if not isinstance(doc, dict):
        raise ProtocolError("error.payload must be a JSON object")
    if not isinstance(doc.get("errorType", ""), str) or not isinstance(
        doc.get("errorMessage", ""), str
    ):
        raise ProtocolError("error.payload errorType and errorMessage must be strings")
    trace = doc.get("stackTrace")
    if trace is not None and not (
        isinstance(trace, list) and all(isinstance(line, str) for line in trace)
    ):
        raise ProtocolError("error.payload stackTrace must be a list of strings")
    return doc


# --- size decisions ---------------------------------------------------------------------


@dataclass(frozen=True)
class Outbound:
    """What to send for one message: ``data`` on the wire, plus an S3 object to put first."""

    data: bytes
    upload_key: str | None = None
    upload_body: bytes | None = field(default=None, repr=False)


def overflow_key(stage: str, invocation_id: str, kind: str) -> str:
    """A key in the overflow bucket; the bucket's lifecycle rule expires ``relay/`` keys."""
    return f"relay/{stage}/{invocation_id}/{kind}.json"


def plan_outbound(
    message: Message, *, bucket: str | None, key: str, limit: int = INLINE_LIMIT
) -> Outbound:
    """Inline when the encoded message fits in ``limit`` bytes, else an S3 pointer."""
    data = encode_bytes(message)
    if len(data) <= limit:
        return Outbound(data)
    if not bucket:
        raise ProtocolError(
            f"{message.type} message is {len(data)} bytes, over the {limit}-byte inline limit, "
            "and no overflow bucket is configured (RELAY_BUCKET): redeploy with `relay start`"
        )
    secrets: dict[str, Any] = {}
    if isinstance(message, Invoke):
        secrets = {"environment": message.environment, "credentials": message.credentials}
        data = encode_bytes(replace(message, environment={}, credentials=None))
    pointer = encode_bytes(Overflow(bucket=bucket, key=key, size=len(data), **secrets))
    if len(pointer) > MESSAGE_LIMIT:
        raise ProtocolError(
            f"the function's environment is too large to send ({len(pointer)} bytes); "
            "Lambda allows 4 KB of environment variables"
        )
    return Outbound(pointer, upload_key=key, upload_body=data)


def from_overflow(message: Message, pointer: Overflow) -> Message:
    """The message fetched for ``pointer``, with the secrets that travelled inline put back."""
    if isinstance(message, Invoke) and (pointer.environment or pointer.credentials):
        return replace(
            message, environment=dict(pointer.environment), credentials=pointer.credentials
        )
    return message


def frames(text: str, limit: int = FRAME_LIMIT) -> list[str]:
    """Split a text message into fragments of at most ``limit`` UTF-8 bytes.

    API Gateway rejects frames over 32 KB; websockets sends an iterable as fragments.
    """
    if len(text.encode("utf-8")) <= limit:
        return [text]
    step = max(1, limit // 4)  # a character is at most 4 UTF-8 bytes
    return [text[i : i + step] for i in range(0, len(text), step)]
