"""Masking before anything reaches the disk: secret headers always, project paths as asked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relay.record.redact import MASK, RedactionConfigError, load_paths, redact


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
