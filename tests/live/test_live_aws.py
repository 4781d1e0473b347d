"""Against a real AWS account: deploy a small stage, invoke it, remove it.

Skipped without credentials. Run with credentials for a bootstrapped account/region:

    AWS_PROFILE=dev AWS_REGION=eu-west-1 .venv/bin/pytest -m aws tests/live -q

It deploys the repository's demo app (two Python functions, a table, a function URL) and the
stage's debug stack, invokes through the function URL and Lambda Invoke with no client
connected (the stub must answer with the command to run), then removes both stacks. A run
takes ~4-6 minutes and costs well under one cent (on-demand table, a few invocations).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from relay.cloud import deploy

REPO = Path(__file__).resolve().parents[2]
STAGE = os.environ.get("RELAY_LIVE_STAGE", f"ci{int(time.time()) % 100000}")


def _has_credentials() -> bool:
    try:
        return boto3.Session().get_credentials() is not None
    except Exception:
        return False


pytestmark = [
    pytest.mark.aws,
    pytest.mark.skipif(not _has_credentials(), reason="needs AWS credentials"),
]


@pytest.fixture(scope="module")
def live() -> Iterator[deploy.LiveStage]:
    lines: list[str] = []
    try:
        yield deploy.go_live(STAGE, REPO, progress=lines.append)
    finally:
        assert deploy.remove_command(STAGE, REPO, all_stacks=True) == 0, "\n".join(lines[-30:])


def test_stage_is_live_with_both_demo_functions(live: deploy.LiveStage) -> None:
    paths = sorted(f.path for f in live.functions)
    assert paths == [f"relay-demo-{STAGE}/Greeting", f"relay-demo-{STAGE}/RecordVisit"]
    assert live.websocket_url.startswith("wss://") and live.websocket_url.endswith(f"/{STAGE}")
    greeting = next(f for f in live.functions if f.path.endswith("/Greeting"))
    assert greeting.function_url and greeting.function_url.startswith("https://")
    assert greeting.config.handler == "app.handler"
    assert greeting.config.environment["GREETING"] == "Hello"


def test_stub_without_client_names_the_command(live: deploy.LiveStage) -> None:
    visits = next(f for f in live.functions if f.path.endswith("/RecordVisit"))
    reply = boto3.client("lambda", region_name=live.region).invoke(
        FunctionName=visits.function_name, Payload=json.dumps({"detail": {"name": "x"}})
    )
    assert f"relay start --stage {STAGE}" in reply["Payload"].read().decode()


def test_function_url_without_client_is_a_clear_http_error(live: deploy.LiveStage) -> None:
    greeting = next(f for f in live.functions if f.path.endswith("/Greeting"))
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(greeting.function_url, timeout=30)
    assert err.value.code in (502, 503)
    assert f"relay start --stage {STAGE}" in err.value.read().decode()
