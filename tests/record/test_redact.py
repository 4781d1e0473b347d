"""Masking before anything reaches the disk: secret headers always, project paths as asked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from relay.record import redact as redact_module
from relay.record.redact import (
    MASK,
    RedactionConfigError,
    load_paths,
    may_need_masking,
    redact,
)


def test_secret_headers_and_credential_fields_are_always_masked() -> None:
    event = {
        "headers": {"Authorization": "Bearer t0k", "Cookie": "sid=1", "accept": "*/*"},
        "multiValueHeaders": {"X-Api-Key": ["k1"], "X-Trace": ["a"]},
        "requestContext": {"authorizer": {"iam": {"accessKey": "AKIAX", "userId": "u"}}},
    }
    masked, where = redact(event, [])
    assert masked == {
        "headers": {"Authorization": MASK, "Cookie": MASK, "accept": "*/*"},
        "multiValueHeaders": {"X-Api-Key": MASK, "X-Trace": ["a"]},
        "requestContext": {"authorizer": {"iam": {"accessKey": MASK, "userId": "u"}}},
    }
    assert sorted(where) == [
        "headers.Authorization",
        "headers.Cookie",
        "multiValueHeaders.X-Api-Key",
        "requestContext.authorizer.iam.accessKey",
    ]
    assert event["headers"]["Authorization"] == "Bearer t0k"  # the input is left alone


def test_paths_reach_into_json_bodies_lists_and_any_case() -> None:
    event = {
        "body": json.dumps({"email": "a@b.c", "name": "Ada"}),
        "Records": [{"body": json.dumps({"card": "4111"})}, {"body": "not json"}],
        "Customer": {"Phone": "+44"},
    }
    masked, where = redact(event, ["body.email", "Records.*.body.card", "customer.phone"])
    assert json.loads(masked["body"]) == {"email": MASK, "name": "Ada"}
    assert json.loads(masked["Records"][0]["body"]) == {"card": MASK}
    assert masked["Records"][1]["body"] == "not json"
    assert masked["Customer"] == {"Phone": MASK}
    assert where == ["body.email", "Records.*.body.card", "customer.phone"]


def test_a_path_that_matches_nothing_changes_nothing() -> None:
    event = {"a": [1, 2], "b": "text", "email": None}
    assert redact(event, ["a.5", "b.c", "missing.x", "email"]) == (event, [])


def test_paths_come_from_relay_toml_and_cdk_json(tmp_path: Path) -> None:
    (tmp_path / "relay.toml").write_text('[record]\nredact = ["body.email"]\n')
    (tmp_path / "cdk.json").write_text(
        json.dumps({"app": "python3 app.py", "context": {"relay": {"redact": ["body.ssn"]}}})
    )
    assert load_paths(tmp_path) == ["body.email", "body.ssn"]


def test_a_bad_setting_says_where_and_how(tmp_path: Path) -> None:
    (tmp_path / "relay.toml").write_text('[record]\nredact = "body.email"\n')
    with pytest.raises(RedactionConfigError, match=r"relay.toml \[record\]: redact must be a list"):
        load_paths(tmp_path)
    (tmp_path / "relay.toml").write_text("[record\n")
    with pytest.raises(RedactionConfigError, match="is not valid TOML"):
        load_paths(tmp_path)


# -- the scan that spares most events the walk ----------------------------------------------

_KEYS = st.sampled_from(
    ["headers", "multiValueHeaders", "Authorization", "x-api-key", "X-Amz-Security-Token",
     "Cookie", "accessKey", "secretAccessKey", "sessionToken", "email", "Email", "body", "card",
     "Records", "0", "host", "userAgent", "\u017fession", "\u212aey", "naïve", "plain"]
)  # fmt: skip
_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
_DOCS = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(_KEYS, inner, max_size=4)
        | st.dictionaries(_KEYS, inner, max_size=3).map(json.dumps)
    ),  # a JSON body in a string
    max_leaves=12,
)
_PATHS = st.lists(
    st.lists(st.sampled_from(["body", "email", "*", "0", "card", "Records", "naïve", "host"]),
             min_size=1, max_size=3).map(".".join),
    max_size=2,
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(doc=_DOCS, paths=_PATHS, ascii_only=st.booleans())
@example(doc={"iam": {"accessKey": "AKIA"}}, paths=[], ascii_only=True)
@example(doc={"headers": {"\u212aey": 1}}, paths=["headers.key"], ascii_only=False)
@example(doc={"body": json.dumps({"Email": "a@b"})}, paths=["BODY.email"], ascii_only=True)
def test_what_the_scan_lets_through_needs_no_masking(
    doc: object, paths: list[str], ascii_only: bool
) -> None:
    raw = json.dumps(doc, ensure_ascii=ascii_only).encode()
    if not may_need_masking(raw, paths):
        assert redact(json.loads(raw), paths) == (json.loads(raw), [])


def test_the_scan_passes_a_plain_function_url_event_only() -> None:
    event = {
        "rawPath": "/echo",
        "headers": {"host": "127.0.0.1:9000", "x-forwarded-proto": "http"},
        "requestContext": {"apiId": "abc", "http": {"method": "GET", "userAgent": "curl"}},
        "body": json.dumps({"name": "Ada"}),
    }
    raw = json.dumps(event).encode()
    assert not may_need_masking(raw, [])
    assert not may_need_masking(raw, ["body.email"])
    assert may_need_masking(raw, ["body.name"])
    assert may_need_masking(raw, ["*"])
    with_cookie = {**event, "headers": {**event["headers"], "Cookie": "sid=1"}}
    assert may_need_masking(json.dumps(with_cookie).encode(), [])
    escaped = json.dumps({"headers": {"Cookie": "sid=1"}}).replace("C", "\\u0043").encode()
    assert may_need_masking(escaped, [])  # "\u0043ookie" is a cookie once decoded


_WORD_PIECES = st.sampled_from(
    ["auth", "tok", "en", "secret", "pass", "w", "cookie", "api", "-", "_", "key", "session",
     "signature", "credential", "x-amz-", "security", "access", "x", " ", "\""]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(pieces=st.lists(_WORD_PIECES, max_size=12))
@example(pieces=["x", "api", "_", "key"])
@example(pieces=["api", "-", "key"])
@example(pieces=["x-amz-", "security"])
def test_the_large_payload_scan_finds_exactly_what_the_regex_finds(pieces: list[str]) -> None:
    lowered = "".join(pieces).encode()
    by_regex = redact_module._SECRET_WORDS.search(lowered) is not None
    assert any(word in lowered for word in redact_module._SECRET_LITERALS) is by_regex


@pytest.mark.parametrize("secret", ["Cookie", "X-Api_Key", "sessionToken", "Passwd"])
def test_a_large_payload_is_scanned_to_its_end(secret: str) -> None:
    """A 6 MB response (function URLs allow 6 MB) is scanned word by word, not by the regex
    (~35 ms of held GIL per MB); a secret at its very end is still seen."""
    body = "x" * (6 * 1024 * 1024)
    assert not may_need_masking(json.dumps({"body": body}).encode(), [])
    assert may_need_masking(json.dumps({"body": body, secret: "s"}).encode(), [])
    assert may_need_masking(json.dumps({"body": body + secret.lower()}).encode(), [])
