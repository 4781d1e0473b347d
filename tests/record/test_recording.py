"""A recording as stored: an event or result with nothing to mask is kept as its JSON text
and read back as the very document ``to_record`` makes; anything to mask is masked first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relay.observe.invocations import InvocationContext, InvocationEvent
from relay.record.recording import inflate, to_record
from relay.record.store import EventStore, encode

FUNCTION_URL_EVENT = {
    "version": "2.0",
    "rawPath": "/orders",
    "headers": {"host": "127.0.0.1:9000", "content-type": "application/json"},
    "requestContext": {"http": {"method": "POST", "path": "/orders"}},
    "body": json.dumps({"order": "o-1", "email": "ada@example.com"}),
}


def _event(payload: bytes | None, result: bytes | None, trigger: str | None, **extra: object):
    return InvocationEvent(
        function="Orders",
        request_id="req-1",
        invocation_id="inv-1",
        status=str(extra.pop("status", "ok")),
        duration_ms=2.5,
        payload=payload,
        result=result,
        logs="START RequestId: req-1\n",
        context=InvocationContext(function_name="Orders", handler="app.handler", trigger=trigger),
        cold=True,
        source="direct",
        at=1_700_000_000.5,
        **extra,  # type: ignore[arg-type]
    )


def _stored(event: InvocationEvent, paths: list[str]) -> tuple[dict, dict]:
    """(the line as written, the line as read back)."""
    _, line = encode(to_record(event, "dev", paths, unparsed=True))
    return json.loads(line), inflate(json.loads(line))


CASES = {
    "function URL, nothing secret": (
        _event(json.dumps(FUNCTION_URL_EVENT).encode(), b'{"statusCode": 201}', "function-url"),
        [],
        {"event_json", "result_json"},
    ),
    "a cookie is masked": (
        _event(
            json.dumps({**FUNCTION_URL_EVENT, "headers": {"Cookie": "sid=s3cr3t"}}).encode(),
            b'{"ok": true}',
            "function-url",
        ),
        [],
        {"result_json"},
    ),
    "a project path is masked": (
        _event(json.dumps(FUNCTION_URL_EVENT).encode(), b"{}", "function-url"),
        ["body.email"],
        {"result_json"},
    ),
    "text, not JSON": (
        _event(b"plain words", b"done", "invoke"),
        [],
        {"event_json", "result_json"},
    ),
    "bytes, not text": (_event(b"\xff\x00\xfe", b"[1, 2]", "invoke"), [], {"result_json"}),
    "no trigger: guessed from the parsed event": (
        _event(json.dumps(FUNCTION_URL_EVENT).encode(), b"null", None),
        [],
        {"result_json"},
    ),
    "a function error, no result": (
        _event(
            b'{"amount": 0}',
            None,
            "invoke",
            status="error",
            error_type="ValueError",
            error_message="amount must be positive",
        ),
        [],
        {"event_json"},
    ),
    # over 16 KB with few objects: parsed and walked, not scanned for secret words
    "a 200 KB page in the body, a secret header": (
        _event(
            json.dumps(
                {**FUNCTION_URL_EVENT, "headers": {"Authorization": "Bearer tok-4be1"},
                 "body": "<p>" + "page " * 40_000 + "</p>"}
            ).encode(),
            b'{"statusCode": 200}',
            "function-url",
        ),
        [],
        {"result_json"},
    ),
    "a 200 KB page in the response, nothing secret": (
        _event(
            json.dumps(FUNCTION_URL_EVENT).encode(),
            json.dumps({"statusCode": 200, "body": "<p>" + "page " * 40_000 + "</p>"}).encode(),
            "function-url",
        ),
        [],
        {"event_json"},
    ),
    "a 200 KB body holding JSON, a project path": (
        _event(
            json.dumps(
                {**FUNCTION_URL_EVENT,
                 "body": json.dumps({"email": "ada@example.com", "notes": "n" * 200_000})}
            ).encode(),
            b"{}",
            "function-url",
        ),
        ["body.email"],
        {"result_json"},
    ),
    # many objects: the walk would cost more than the scan, which finds the word
    "a large response of many objects, one secret key": (
        _event(
            b'{"op": "list"}',
            json.dumps([{"id": n} for n in range(3000)] + [{"secretKey": "k-77c1"}]).encode(),
            "invoke",
        ),
        [],
        {"event_json"},
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_what_is_read_back_is_what_to_record_makes(case: str) -> None:
    event, paths, kept_as_text = CASES[case]
    written, read = _stored(event, paths)
    assert {key for key in written if key.endswith("_json")} == kept_as_text
    assert read == json.loads(json.dumps(to_record(event, "dev", paths)))


def test_what_is_masked_never_reaches_the_line() -> None:
    event, paths, _ = CASES["a project path is masked"]
    written, read = _stored(event, paths)
    assert "ada@example.com" not in json.dumps(written)
    assert json.loads(read["event"]["body"]) == {"order": "o-1", "email": "***"}
    assert read["redacted"] == ["body.email"]
    cookie, _, _ = CASES["a cookie is masked"]
    assert "s3cr3t" not in json.dumps(_stored(cookie, [])[0])
    for case, secret, where in [
        ("a 200 KB page in the body, a secret header", "tok-4be1", "headers.Authorization"),
        ("a 200 KB body holding JSON, a project path", "ada@example.com", "body.email"),
        ("a large response of many objects, one secret key", "k-77c1", "result.3000.secretKey"),
    ]:
        event, paths, _ = CASES[case]
        written, read = _stored(event, paths)
        assert secret not in json.dumps(written), case
        assert read["redacted"] == [where], case


def test_the_store_reads_kept_texts_back_as_documents(tmp_path: Path) -> None:
    event, _, _ = CASES["function URL, nothing secret"]
    store = EventStore(tmp_path / "events")
    store.add(to_record(event, "dev", [], unparsed=True))
    (entry,) = store.entries()
    expected = json.loads(json.dumps(to_record(event, "dev", [])))
    assert store.load(entry) == expected == store.find("last")
    assert [record for _, record in store.records()] == [expected]
    assert store.find(entry.id)["event"] == FUNCTION_URL_EVENT


def test_a_response_too_large_is_neither_scanned_nor_encoded() -> None:
    """A 3 MB response is kept out before anything reads it (scanning and encoding megabytes
    held the GIL while relay served); the trigger is still guessed from the small event."""
    sqs = json.dumps({"Records": [{"eventSource": "aws:sqs", "body": "hi"}]}).encode()
    big = json.dumps({"token": "secret-value", "pad": "x" * (3 * 1024 * 1024)}).encode()
    record = to_record(_event(sqs, big, None), "dev", ["token"], unparsed=True)
    assert (record["trigger"], record["event"], record["result"]) == ("sqs", None, None)
    assert record["truncated"] == len(sqs) + len(big)
    assert not {"event_json", "result_json", "event_text", "result_text"} & set(record)
    assert record["redacted"] == []
    _, line = encode(record)
    assert len(line) < 2_000 and b"secret-value" not in line
    # not the recorder's path (a replay's or the console's document): parsed as it always was
    full = to_record(_event(sqs, big, None), "dev", ["token"])
    assert full["result"]["token"] == "***" and "truncated" not in full


def test_a_recording_too_large_keeps_no_payload_text(tmp_path: Path) -> None:
    big = json.dumps({"pad": "x" * (3 * 1024 * 1024)}).encode()
    store = EventStore(tmp_path / "events")
    store.add(to_record(_event(big, big, "invoke"), "dev", [], unparsed=True))
    (record,) = [record for _, record in store.records()]
    assert (record["event"], record["result"], record["truncated"] > 6_000_000) == (
        None,
        None,
        True,
    )
    assert not {"event_json", "result_json", "event_text", "result_text"} & set(record)
