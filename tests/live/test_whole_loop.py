"""The whole loop against a real AWS account, through relay's own CLI, step by step.

Skipped without credentials. With credentials for a CDK-bootstrapped account and region:

    AWS_PROFILE=dev AWS_REGION=eu-west-1 .venv/bin/pytest -m aws tests/live

It copies tests/live/app (a function URL, an SQS-triggered function writing to DynamoDB) to a
temporary folder and, for a throw-away stage: `relay start` (debug stack + app in live mode,
a real client connected), calls through the function URL, Lambda Invoke and an SQS message,
edits a handler (hot reload), deletes the client's connection (it reconnects), stops relay
(the stub then names the command to run), `relay deploy` (the real code answers),
`relay remove --all`, and checks that nothing of the stage is left in the account. The
steps run in order; a failed step fails the ones that need it. A pass/fail table is printed
at the end (tests/live/conftest.py). About 10-15 minutes, well under ten cents.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError

from tests.e2e.relay_process import RelayProcess, connected, read_session

APP = Path(__file__).parent / "app"
STAGE = os.environ.get("RELAY_LIVE_STAGE") or f"live{secrets.token_hex(3)}"
STACK = f"relay-live-{STAGE}"
DEBUG_STACK = f"relay-{STAGE}-debug"
T = TypeVar("T")


def _credentials() -> Any:
    try:
        return boto3.Session().get_credentials()
    except Exception:
        return None


pytestmark = [
    pytest.mark.aws,
    pytest.mark.skipif(_credentials() is None, reason="needs AWS credentials (AWS_PROFILE)"),
]


@dataclass
class Loop:
    """What the steps share: the app folder, the running `relay start`, and the outputs."""

    app: Path
    region: str
    relay: RelayProcess | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    def need(self, *steps: str) -> None:
        missing = [s for s in steps if s in self.failed]
        if missing:
            pytest.fail(f"needs step(s) that failed: {', '.join(missing)}")

    def session(self) -> dict[str, Any]:
        return read_session(self.app, STAGE)

    def function(self, short: str) -> dict[str, Any]:
        for fn in self.session()["functions"]:
            if fn["path"].rsplit("/", 1)[-1] == short:
                return fn
        raise AssertionError(f"no function {short} in the session")

    def client(self, service: str, **kwargs: Any) -> Any:
        return boto3.client(service, region_name=self.region, **kwargs)


def _relay(loop: Loop, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """`relay ARGS --stage STAGE --app APP`, to completion; its output on failure."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    done = subprocess.run(
        [sys.executable, "-m", "relay", *args, "--stage", STAGE, "--app", str(loop.app)],
        capture_output=True, text=True, timeout=timeout, cwd=loop.app,
        env={**os.environ, "PATH": path},
    )  # fmt: skip
    assert done.returncode == 0, f"relay {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def _until(check: Callable[[], T | None], what: str, timeout: float = 60) -> T:
    """Poll ``check`` until it returns something, with a deadline."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
        except (AssertionError, ClientError, urllib.error.URLError) as exc:
            last, value = exc, None
        if value is not None:
            return value
        time.sleep(1)
    raise AssertionError(f"no {what} within {timeout} s (last error: {last})")


def _signed_get(loop: Loop, url: str) -> tuple[int, dict[str, Any]]:
    """GET a function URL with IAM auth, signed by botocore as any AWS SDK would."""
    request = AWSRequest(method="GET", url=url)
    creds = boto3.Session().get_credentials().get_frozen_credentials()
    SigV4Auth(creds, "lambda", loop.region).add_auth(request)
    req = urllib.request.Request(url, headers=dict(request.headers.items()))
    try:
        with urllib.request.urlopen(req, timeout=60) as reply:
            return reply.status, json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def _invoke(loop: Loop, short: str, event: Any) -> tuple[Any, str | None]:
    reply = loop.client("lambda").invoke(
        FunctionName=loop.function(short)["function_name"], Payload=json.dumps(event).encode()
    )
    return json.loads(reply["Payload"].read() or b"null"), reply.get("FunctionError")


def _stack_outputs(loop: Loop) -> dict[str, str]:
    stack = loop.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    app = tmp_path_factory.mktemp("live") / "app"
    shutil.copytree(APP, app)
    region = boto3.Session().region_name or os.environ.get("AWS_REGION")
    if not region:
        pytest.fail("set AWS_REGION (or a region in your AWS profile)")
    state = Loop(app=app, region=region)
    try:
        yield state
    finally:
        if state.relay is not None:
            state.relay.stop()
        # Whatever happened, leave nothing behind (the last step checks it).
        subprocess.run(
            [sys.executable, "-m", "relay", "remove", "--all", "--stage", STAGE, "--app",
             str(app)], capture_output=True, text=True, timeout=1800, cwd=app,
        )  # fmt: skip


@pytest.fixture(autouse=True)
def _record_failures(loop: Loop, request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    report = getattr(request.node, "rep_call", None)
    if report is None or report.failed:
        loop.failed.append(request.node.name)


def test_start_deploys_the_stage_and_connects_a_client(loop: Loop) -> None:
    loop.relay = RelayProcess(loop.app, "start", "--stage", STAGE).start()
    loop.relay.wait_for(connected(loop.app, STAGE), "the client to connect", timeout=1800)
    session = loop.session()
    assert session["mode"] == "aws"
    assert session["websocket_url"].startswith("wss://")
    assert sorted(f["path"] for f in session["functions"]) == [f"{STACK}/Hello", f"{STACK}/Worker"]
    loop.outputs = _stack_outputs(loop)


def test_function_url_runs_the_local_handler(loop: Loop) -> None:
    loop.need("test_start_deploys_the_stage_and_connects_a_client")
    status, body = _signed_get(loop, loop.outputs["HelloUrl"] + "?name=url")
    assert (status, body) == (200, {"message": "Hello, url", "local": True, "version": 1})


def test_invoke_runs_the_local_handler(loop: Loop) -> None:
    loop.need("test_start_deploys_the_stage_and_connects_a_client")
    result, error = _invoke(loop, "Hello", {"queryStringParameters": {"name": "invoke"}})
    assert error is None, result
    assert json.loads(result["body"]) == {"message": "Hello, invoke", "local": True, "version": 1}


def test_sqs_message_runs_the_local_handler_with_the_role(loop: Loop) -> None:
    loop.need("test_start_deploys_the_stage_and_connects_a_client")
    sent = loop.client("sqs").send_message(QueueUrl=loop.outputs["QueueUrl"], MessageBody="hi")
    table = boto3.resource("dynamodb", region_name=loop.region).Table(loop.outputs["TableName"])
    item = _until(
        lambda: table.get_item(Key={"id": sent["MessageId"]}, ConsistentRead=True).get("Item"),
        "item written by the worker", timeout=120,
    )  # fmt: skip
    assert item == {"id": sent["MessageId"], "body": "hi", "local": True}


def test_hot_reload_serves_the_edited_handler(loop: Loop) -> None:
    loop.need("test_function_url_runs_the_local_handler")
    handler = loop.app / "functions" / "hello" / "app.py"
    handler.write_text(handler.read_text().replace('"version": 1', '"version": 2'))

    def edited() -> dict[str, Any] | None:
        status, body = _signed_get(loop, loop.outputs["HelloUrl"] + "?name=reload")
        return body if status == 200 and body.get("version") == 2 else None

    assert _until(edited, "the edited handler's answer", timeout=30) == {
        "message": "Hello, reload", "local": True, "version": 2,
    }  # fmt: skip


def test_a_dropped_connection_reconnects_and_serves(loop: Loop) -> None:
    loop.need("test_invoke_runs_the_local_handler")
    session = loop.session()
    old = session["connection_id"]
    loop.client(
        "apigatewaymanagementapi", endpoint_url=session["connections_endpoint"]
    ).delete_connection(ConnectionId=old)
    assert loop.relay is not None
    loop.relay.wait_for(connected(loop.app, STAGE, not_id=old), "a new connection", 120)
    result, error = _invoke(loop, "Hello", {"queryStringParameters": {"name": "again"}})
    assert error is None, result
    assert json.loads(result["body"])["message"] == "Hello, again"


def test_without_a_client_the_stub_names_the_command(loop: Loop) -> None:
    loop.need("test_start_deploys_the_stage_and_connects_a_client")
    assert loop.relay is not None
    loop.relay.stop()
    loop.relay = None
    status, body = _signed_get(loop, loop.outputs["HelloUrl"])
    assert status in (502, 503)
    assert f"relay start --stage {STAGE}" in json.dumps(body)


def test_deploy_puts_the_real_code_back(loop: Loop) -> None:
    loop.need("test_start_deploys_the_stage_and_connects_a_client")
    _relay(loop, "deploy")
    status, body = _signed_get(loop, loop.outputs["HelloUrl"] + "?name=cloud")
    assert (status, body) == (200, {"message": "Hello, cloud", "local": False, "version": 2})


def test_remove_leaves_nothing_of_the_stage(loop: Loop) -> None:
    _relay(loop, "remove", "--all")
    cloudformation = loop.client("cloudformation")
    for name in (STACK, DEBUG_STACK):
        with pytest.raises(ClientError, match="does not exist"):
            cloudformation.describe_stacks(StackName=name)
    logs = loop.client("logs")
    left = [
        group["logGroupName"]
        for prefix in (f"/aws/lambda/{STACK}", f"/aws/lambda/{DEBUG_STACK}")
        for group in logs.describe_log_groups(logGroupNamePrefix=prefix)["logGroups"]
    ]
    assert left == []
    assert not (loop.app / ".relay" / "stages" / STAGE).exists()
