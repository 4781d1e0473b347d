"""The stub <-> client message model: round trips, validation, overflow, in-flight tracking."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.link import messages as p

ids = st.text(min_size=1, max_size=40)
text = st.text(max_size=60)
maybe_text = st.none() | text
counts = st.integers(min_value=0, max_value=2**53)
durations = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)
payloads = st.binary(max_size=300) | text.map(lambda s: s.encode("utf-8"))
error_docs = st.builds(
    lambda t, m, trace: json.dumps(
        {"errorMessage": m, "errorType": t, "requestId": "r", "stackTrace": trace}
    ).encode(),
    text,
    text,
    st.lists(text, max_size=4),
)
credentials = st.builds(p.Credentials, ids, ids, maybe_text)

MESSAGES = {
    "hello": st.builds(p.Hello, st.sampled_from(p.ROLES), text, text),
    "welcome": st.builds(p.Welcome, text, ids, st.none() | ids, text),
    "invoke": st.builds(
        p.Invoke,
        id=ids,
        reply_to=ids,
        stage=text,
        function_name=text,
        request_id=text,
        deadline_ms=counts,
        payload=payloads,
        invoked_function_arn=text,
        function_version=text,
        memory_mb=counts,
        log_group=text,
        log_stream=text,
        region=text,
        handler=text,
        function_path=text,
        bucket=st.none() | ids,
        client_context=maybe_text,
        cognito_identity=maybe_text,
        trace_id=maybe_text,
        environment=st.dictionaries(text, text, max_size=5),
        credentials=st.none() | credentials,
        first_to=st.none() | ids,
    ),
    "ack": st.builds(p.Ack, ids),
    "result": st.builds(p.Result, ids, payloads, durations),
    "error": st.builds(p.Error, ids, error_docs, durations),
    "log": st.builds(p.Log, ids, text),
    "replaced": st.builds(p.Replaced, text, st.none() | ids),
    "ping": st.builds(p.Ping, text),
    "pong": st.builds(p.Pong, text),
    "overflow": st.builds(p.Overflow, ids, ids, counts.filter(lambda n: n < p.MAX_PAYLOAD)),
}


def test_every_message_type_has_a_strategy() -> None:
    assert set(MESSAGES) == set(p.MESSAGE_TYPES)


@pytest.mark.parametrize("kind", sorted(MESSAGES))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_round_trip(kind: str, data: st.DataObject) -> None:
    message = data.draw(MESSAGES[kind])
    text_form = p.encode(message)
    assert p.decode(text_form) == message
    assert p.decode(text_form.encode("utf-8")) == message


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200))
def test_garbage_raises_only_protocol_error(garbage: bytes | str) -> None:
    _decode_or_protocol_error(garbage)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(p.MESSAGE_TYPES)),
    st.dictionaries(
        st.sampled_from(["id", "payload", "stage", "role", "deadline_ms", "credentials", "x"]),
        json_values,
    ),
)
def test_wrongly_shaped_json_raises_only_protocol_error(kind: str, body: dict) -> None:
    _decode_or_protocol_error(json.dumps({"v": 1, "type": kind, **body}))


def _decode_or_protocol_error(data: bytes | str) -> None:
    try:
        message = p.decode(data)
    except p.ProtocolError as exc:
        assert str(exc)  # always says what is wrong
    else:
        assert isinstance(message, tuple(p.MESSAGE_TYPES.values()))


def test_payload_travels_byte_for_byte() -> None:
    raw = b'{"b": 2,   "a": [1.0, 1e400]}'  # spacing and odd numbers must survive
    assert p.decode(p.encode(p.Result("i", raw))).payload == raw
    binary = bytes(range(256))
    encoded = json.loads(p.encode(p.Result("i", binary)))
    assert encoded["payload_encoding"] == "base64"
    assert p.decode(p.encode(p.Result("i", binary))).payload == binary


def test_error_exposes_lambda_error_fields_exactly() -> None:
    doc = {
        "errorMessage": "boom",
        "errorType": "ValueError",
        "requestId": "r-1",
        "stackTrace": ['  File "/code/app.py", line 3, in handler\n    raise ValueError("boom")\n'],
    }
    raw = json.dumps(doc).encode()
    error = p.decode(p.encode(p.Error("i", raw, 1.5)))
    assert isinstance(error, p.Error)
    assert (error.error_type, error.error_message, error.stack_trace) == (
        "ValueError",
        "boom",
        doc["stackTrace"],
    )
    assert error.payload == raw


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"v": 1, "type": "ack"}, "ack message lacks the field 'id'"),
        ({"v": 1, "type": "ack", "id": ""}, "ack.id must be 1..512 characters long"),
        ({"v": 1, "type": "ack", "id": 5}, "ack.id must be a string, not int"),
        (
            {"v": 1, "type": "ack", "id": "a", "extra": 1},
            "ack message has unknown field(s) 'extra'",
        ),
        ({"v": 1, "type": "nope"}, "unknown message type 'nope'"),
        ({"type": "ack", "id": "a"}, "protocol version None, expected 1"),
        ({"v": 1, "type": "hello", "role": "admin", "stage": "s"}, "hello.role must be one of"),
        ({"v": 1, "type": "error", "id": "a", "payload": "[]"}, "error.payload must be a JSON"),
        (
            {"v": 1, "type": "result", "id": "a", "payload": "x", "payload_encoding": "rot13"},
            "result.payload_encoding must be 'base64'",
        ),
        (
            {"v": 1, "type": "result", "id": "a", "payload": "x", "duration_ms": True},
            "result.duration_ms must be a number, not bool",
        ),
        (
            {"v": 1, "type": "overflow", "bucket": "b", "key": "k", "size": -1},
            "overflow.size must not be negative",
        ),
    ],
)
def test_invalid_messages_say_what_is_wrong(body: dict, message: str) -> None:
    with pytest.raises(p.ProtocolError) as caught:
        p.decode(json.dumps(body))
    assert message in str(caught.value)


def test_lambda_timeout_error_has_no_error_type() -> None:
    raw = b'{"errorMessage":"2026-11-25T20:52:20.711Z 7fce1d79 Task timed out after 2.00 seconds"}'
    error = p.decode(p.encode(p.Error("i", raw)))
    assert isinstance(error, p.Error)
    assert error.is_timeout and error.error_type == "" and error.stack_trace == []
    assert not p.Error("i", b'{"errorType": "X", "errorMessage": "m"}').is_timeout


def test_newer_version_says_to_upgrade() -> None:
    with pytest.raises(p.ProtocolError, match=r"version 2, this side speaks 1: upgrade relay"):
        p.decode('{"v": 2, "type": "ack", "id": "a"}')


def test_not_json_and_not_utf8() -> None:
    with pytest.raises(p.ProtocolError, match="not JSON"):
        p.decode("{")
    with pytest.raises(p.ProtocolError, match="not UTF-8"):
        p.decode(b"\xff")
    with pytest.raises(p.ProtocolError, match="JSON object"):
        p.decode("[1]")


def test_credentials_and_environment_stay_out_of_reprs() -> None:
    invoke = p.Invoke(
        id="i",
        reply_to="c",
        stage="s",
        function_name="f",
        request_id="r",
        deadline_ms=1,
        payload=b"{}",
        environment={"DB_PASSWORD": "hunter2"},
        credentials=p.Credentials("AKIDSECRETID", "sekrit", "tok"),
    )
    shown = repr(invoke)
    assert "hunter2" not in shown and "sekrit" not in shown and "AKIDSECRETID" not in shown


def test_plan_outbound_inline_below_the_limit() -> None:
    out = p.plan_outbound(p.Result("i", b"x" * 1000), bucket="b", key="k")
    assert out.upload_key is None
    assert p.decode(out.data) == p.Result("i", b"x" * 1000)


def test_plan_outbound_overflows_above_the_limit() -> None:
    message = p.Result("i", b"y" * (200 * 1024))
    out = p.plan_outbound(message, bucket="bkt", key="relay/s/i/result.json")
    assert len(out.data) < 1024
    pointer = p.decode(out.data)
    assert pointer == p.Overflow("bkt", "relay/s/i/result.json", len(out.upload_body or b""))
    assert out.upload_key == "relay/s/i/result.json"
    assert p.decode(out.upload_body or b"") == message


def test_plan_outbound_without_bucket_is_a_clear_error() -> None:
    with pytest.raises(p.ProtocolError, match=r"no overflow bucket is configured \(RELAY_BUCKET\)"):
        p.plan_outbound(p.Result("i", b"y" * (100 * 1024)), bucket=None, key="k")


def test_frames_respect_the_frame_limit() -> None:
    assert p.frames("small") == ["small"]
    big = "é" * 40_000 + "x" * 50_000  # 130,000 bytes, multi-byte characters included
    parts = p.frames(big)
    assert "".join(parts) == big
    assert all(len(part.encode("utf-8")) <= p.FRAME_LIMIT for part in parts)


def test_an_oversized_invoke_never_puts_environment_or_credentials_in_s3() -> None:
    """Secrets forwarded by the stub live in memory only: S3 gets the event, not them."""
    invoke = p.Invoke(
        id="inv-1",
        reply_to="stub-conn",
        stage="alice",
        function_name="fn",
        request_id="req-1",
        deadline_ms=1_700_000_000_000,
        payload=b'{"pad": "' + b"x" * 200_000 + b'"}',
        environment={"DB_PASSWORD": "hunter2-secret-value"},
        credentials=p.Credentials("ASIAEXAMPLEKEY", "secret-access-key-value", "tok-v"),
    )
    out = p.plan_outbound(invoke, bucket="overflow", key="relay/alice/inv-1/invoke.json")
    assert out.upload_key == "relay/alice/inv-1/invoke.json"
    assert out.upload_body is not None
    for secret in (b"hunter2-secret-value", b"secret-access-key-value", b"tok-v", b"ASIAEX"):
        assert secret not in out.upload_body
    assert len(out.data) < p.INLINE_LIMIT
    pointer = p.decode(out.data)
    assert isinstance(pointer, p.Overflow)
    restored = p.from_overflow(p.decode(out.upload_body), pointer)
    assert restored == invoke


def test_an_oversized_result_is_stored_whole() -> None:
    result = p.Result(id="inv-1", payload=b"y" * 200_000)
    out = p.plan_outbound(result, bucket="b", key="k")
    assert out.upload_body == p.encode_bytes(result)
    pointer = p.decode(out.data)
    assert isinstance(pointer, p.Overflow)
    assert p.from_overflow(p.decode(out.upload_body), pointer) == result
