"""The whole relay path through the emulator: stub (a real function there) -> gateway ->
RelayClient -> local runtime -> back to the caller, byte for byte."""

from __future__ import annotations

import asyncio
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
from botocore.config import Config

from relay import client as relay_client
from relay.client import InvocationEvent, RelayClient
from relay.cloud.stub_asset import build_stub_asset
from relay.emulator import Emulator
from relay.runtime import FunctionConfig, LocalRuntime
from relay.stub_lambda import connect

REGION = "us-east-1"
STAGE = "alice"
HANDLERS = """
import json, os, time

def echo(event, context):
    return {"event": event, "request_id": context.aws_request_id,
            "remaining_ok": context.get_remaining_time_in_millis() > 0,
            "env": os.environ.get("GREETING"), "key": os.environ.get("AWS_ACCESS_KEY_ID")}

def fail(event, context):
    print("about to fail")
    raise ValueError(f"bad input: {event.get('why')}")

def big(event, context):
    return {"data": "x" * event["size"], "got": len(event.get("blob", ""))}

def slow(event, context):
    time.sleep(event.get("seconds", 0.5))
    return {"slept": event.get("seconds", 0.5)}
"""
FUNCTIONS = {"echo": "echo", "fail": "fail", "big": "big", "slow": "slow", "sleepy": "slow"}
TIMEOUTS = {"sleepy": 2.0}  # seconds; the others get 30


@dataclass
class Stage:
    emu: Emulator
    websocket_url: str
    connections_endpoint: str
    code_dir: Path
    bucket: str
    table: str

    def session(self) -> boto3.Session:
        c = self.emu.credentials
        return boto3.Session(
            aws_access_key_id=c.access_key,
            aws_secret_access_key=c.secret_key,
            aws_session_token=c.session_token,
            region_name=REGION,
        )

    def client(self, service: str) -> Any:
        endpoint = self.emu.endpoints.get(service)
        config = Config(retries={"max_attempts": 0}, read_timeout=120, max_pool_connections=64)
        return self.session().client(service, endpoint_url=endpoint, config=config)

    def functions(self) -> dict[str, FunctionConfig]:
        return {
            name: FunctionConfig(
                name=name,
                handler=f"handlers.{h}",
                code_dir=self.code_dir,
                timeout=TIMEOUTS.get(name, 30.0),
            )
            for name, h in FUNCTIONS.items()
        }


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    code_dir = tmp_path_factory.mktemp("code")
    (code_dir / "handlers.py").write_text(textwrap.dedent(HANDLERS))
    asset = build_stub_asset(tmp_path_factory.mktemp("cache"))
    with Emulator(region=REGION, function_concurrency=16) as emu:
        # moto keeps its state per process: a name of its own per fixture, so another
        # module's emulator (same process, same region) never finds this table taken.
        unique = uuid.uuid4().hex[:8]
        table, bucket = f"relay-{STAGE}-{unique}-connections", f"relay-{STAGE}-{unique}-overflow"
        placeholder = Stage(emu, "", "", code_dir, bucket, table)
        dynamodb = placeholder.client("dynamodb")
        dynamodb.create_table(TableName=table, **connect.TABLE_LAYOUT)
        placeholder.client("s3").create_bucket(Bucket=bucket)
        api = emu.create_websocket_api(
            f"relay-{STAGE}",
            routes={"$connect": "connect", "$disconnect": "connect", "$default": "connect"},
        )
        emu.create_function(
            FunctionConfig(
                name="connect",
                handler="connect.handler",
                code_dir=asset,
                timeout=10,
                environment={
                    "RELAY_TABLE": table,
                    "RELAY_STAGE": STAGE,
                    "RELAY_CONNECTIONS_ENDPOINT": api.connections_endpoint,
                    "RELAY_CLIENT_PRINCIPAL": emu.local_principal_arn,
                },
            )
        )
        for name, handler in FUNCTIONS.items():
            emu.create_function(
                FunctionConfig(
                    name=name,
                    handler="stub.handler",
                    code_dir=asset,
                    timeout=TIMEOUTS.get(name, 30.0),
                    environment={
                        "GREETING": "hello from the function's environment",
                        "RELAY_STAGE": STAGE,
                        "RELAY_WS_URL": api.websocket_url,
                        "RELAY_CONNECTIONS_ENDPOINT": api.connections_endpoint,
                        "RELAY_BUCKET": bucket,
                        "RELAY_FUNCTION_PATH": f"Demo/{name}",
                        "RELAY_ORIGINAL_HANDLER": f"handlers.{handler}",
                    },
                ),
                url=name == "echo",
            )
        yield Stage(emu, api.websocket_url, api.connections_endpoint, code_dir, bucket, table)
        # moto keeps its state per process: leave nothing for the next module using this stage
        dynamodb.delete_table(TableName=table)
        objects = placeholder.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])
        for item in objects:
            placeholder.client("s3").delete_object(Bucket=bucket, Key=item["Key"])
        placeholder.client("s3").delete_bucket(Bucket=bucket)


@dataclass
class Running:
    client: RelayClient
    task: asyncio.Task[int]
    events: list[InvocationEvent] = field(default_factory=list)
    connected: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait (60 s at most) until ``condition`` holds, re-checked on every event."""
        async with asyncio.timeout(60):
            while not condition():
                self.changed.clear()
                await self.changed.wait()

    def running(self) -> int:
        return sum(1 for e in self.events if e.status == "running")


@asynccontextmanager
async def running_client(stage: Stage, runtime: LocalRuntime) -> AsyncIterator[Running]:
    events: list[InvocationEvent] = []
    connected: list[str] = []
    ready = asyncio.Event()
    changed = asyncio.Event()

    def on_event(event: InvocationEvent) -> None:
        events.append(event)
        changed.set()

    def on_connected(connection_id: str) -> None:
        connected.append(connection_id)
        ready.set()

    client = RelayClient(
        stage=STAGE,
        websocket_url=stage.websocket_url,
        connections_endpoint=stage.connections_endpoint,
        session=stage.session(),
        runtime=runtime,
        functions=stage.functions(),
        region=REGION,
        s3_endpoint=stage.emu.endpoints["s3"],
        on_event=on_event,
        on_connected=on_connected,
    )
    task = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(ready.wait(), 30)
        yield Running(client, task, events, connected, changed)
    finally:
        await client.stop()
        await asyncio.wait_for(task, 30)


async def invoke(stage: Stage, function: str, event: Any) -> tuple[dict, bytes]:
    def call() -> tuple[dict, bytes]:
        reply = stage.client("lambda").invoke(
            FunctionName=function, Payload=json.dumps(event).encode()
        )
        return reply, reply["Payload"].read()

    return await asyncio.to_thread(call)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def runtime() -> Iterator[LocalRuntime]:
    yield LocalRuntime(max_workers=4, spares=0, watch=False)


def test_round_trip_carries_event_environment_and_role_credentials(
    stage: Stage, runtime: LocalRuntime
) -> None:
    async def scenario() -> None:
        async with runtime, running_client(stage, runtime) as live:
            reply, body = await invoke(stage, "echo", {"hello": "world", "n": [1, 2.5]})
            assert "FunctionError" not in reply
            document = json.loads(body)
            assert document["event"] == {"hello": "world", "n": [1, 2.5]}
            assert document["env"] == "hello from the function's environment"
            assert document["remaining_ok"] is True
            # The handler runs with the stub's role credentials, not the developer's.
            assert document["key"] not in (None, stage.emu.credentials.access_key)
            assert live.client.connection_id == live.connected[-1]
            statuses = [(e.function, e.status) for e in live.events]
            assert statuses == [("echo", "running"), ("echo", "ok")]
            assert live.events[-1].request_id == document["request_id"]
            assert "START RequestId: " + document["request_id"] in live.events[-1].logs

    run(scenario())


def test_warm_invocation_costs_exactly_two_posts(stage: Stage, runtime: LocalRuntime) -> None:
    async def scenario() -> None:
        async with runtime, running_client(stage, runtime):
            await invoke(stage, "echo", {"warm": "up"})  # cold path: hello, welcome
            before = stage.emu.calls.copy()
            await invoke(stage, "echo", {"warm": True})
            spent = stage.emu.calls - before
            assert spent["PostToConnection"] == 2
            assert spent["Route"] == 0  # no $default (connect handler) call when warm
            assert spent["Connect"] == 0  # the stub's socket was reused

    run(scenario())


def test_function_error_has_the_exact_shape(stage: Stage, runtime: LocalRuntime) -> None:
    async def scenario() -> None:
        async with runtime, running_client(stage, runtime) as live:
            reply, body = await invoke(stage, "fail", {"why": "testing"})
            assert reply["FunctionError"] == "Unhandled"
            error = json.loads(body)
            assert error["errorType"] == "ValueError"
            assert error["errorMessage"] == "bad input: testing"
            trace = error["stackTrace"]
            assert len(trace) == 1 and "handlers.py" in trace[0] and "in fail" in trace[0]
            assert 'raise ValueError(f"bad input:' in trace[0]
            local = [e for e in live.events if e.status == "error"]
            assert [(e.error_type, e.error_message) for e in local] == [
                ("ValueError", "bad input: testing")
            ]
            assert "about to fail" in local[0].logs

    run(scenario())


@pytest.mark.parametrize("size", [200 * 1024, 6 * 1024 * 1024 - 4096])
def test_overflow_round_trips_large_requests_and_responses(
    stage: Stage, runtime: LocalRuntime, size: int
) -> None:
    async def scenario() -> None:
        async with runtime, running_client(stage, runtime):
            blob = "y" * (size - 100)
            reply, body = await invoke(stage, "big", {"size": size - 100, "blob": blob})
            assert "FunctionError" not in reply, body[:500]
            document = json.loads(body)
            assert document["got"] == size - 100
            assert document["data"] == "x" * (size - 100)

    run(scenario())


def test_no_client_is_a_clear_error(stage: Stage) -> None:
    """(How soon: tests/link/test_stub_session.py, on the session's own clock.)"""
    reply = stage.client("lambda").invoke(FunctionName="echo", Payload=b'{"alone": true}')
    body = json.loads(reply["Payload"].read())
    assert reply["FunctionError"] == "Unhandled"
    assert body["errorType"] == "RelayClientNotConnected", body
    assert body["errorMessage"] == (
        f"relay: no relay client is running for stage '{STAGE}'; "
        f"run `relay start --stage {STAGE}` and invoke again"
    )


def test_no_client_gives_http_callers_a_503(stage: Stage) -> None:
    import urllib.error
    import urllib.request

    url = next(f.function_url for f in stage.emu.functions if f.name == "echo")
    assert url
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url, data=b"{}", timeout=30)
    assert caught.value.code == 503
    assert f"relay start --stage {STAGE}" in json.loads(caught.value.read())["message"]


def test_second_client_replaces_the_first(stage: Stage) -> None:
    async def scenario() -> None:
        first_rt = LocalRuntime(max_workers=2, spares=0, watch=False)
        second_rt = LocalRuntime(max_workers=2, spares=0, watch=False)
        async with (
            first_rt,
            second_rt,
            running_client(stage, first_rt) as first,
            running_client(stage, second_rt) as second,
        ):
            assert await asyncio.wait_for(first.task, 30) == relay_client.EXIT_REPLACED
            _, body = await invoke(stage, "echo", {"who": "second"})
            assert json.loads(body).get("event") == {"who": "second"}, body
            assert [e.status for e in second.events] == ["running", "ok"]
            assert [e.status for e in first.events if e.function == "echo"] == []

    run(scenario())


def test_slow_invocation_is_acked_and_answered(stage: Stage, runtime: LocalRuntime) -> None:
    async def scenario() -> None:
        async with runtime, running_client(stage, runtime):
            await invoke(stage, "slow", {"seconds": 0.01})  # warm the stub
            before = stage.emu.calls.copy()
            _, body = await invoke(stage, "slow", {"seconds": 3.5})  # beyond the 3 s window
            assert json.loads(body) == {"slept": 3.5}
            # invoke, acks at 0.25 s, 2.25 s (every 2 s while running), result
            assert (stage.emu.calls - before)["PostToConnection"] == 4

    run(scenario())


def test_deleting_connections_mid_load_loses_nothing(stage: Stage, runtime: LocalRuntime) -> None:
    async def scenario() -> None:
        async with runtime, running_client(stage, runtime) as live:
            management = boto3.client(
                "apigatewaymanagementapi",
                endpoint_url=stage.connections_endpoint,
                region_name=REGION,
                **stage.emu.credentials.boto3_kwargs(),
            )
            calls = [invoke(stage, "slow", {"seconds": 0.3, "n": i}) for i in range(24)]
            pending = [asyncio.create_task(c) for c in calls]
            await live.until(lambda: live.running() >= 4)  # some run, others are on the way
            client_id = live.client.connection_id
            assert client_id
            await asyncio.to_thread(management.delete_connection, ConnectionId=client_id)
            results = await asyncio.wait_for(asyncio.gather(*pending), 120)
            for reply, body in results:
                assert "FunctionError" not in reply, body
            assert sorted(json.loads(body)["slept"] for _, body in results) == [0.3] * 24
            assert len(live.connected) >= 2  # it reconnected
            finished = [e for e in live.events if e.status in ("ok", "error", "relay-error")]
            assert len(finished) == len({e.invocation_id for e in finished})  # once each

    run(scenario())


def test_unknown_function_gets_a_clear_relay_error(stage: Stage, runtime: LocalRuntime) -> None:
    async def scenario() -> None:
        async with runtime, running_client(stage, runtime) as live:
            live.client.functions.pop("echo")
            reply, body = await invoke(stage, "echo", {})
            error = json.loads(body)
            assert reply["FunctionError"] == "Unhandled"
            assert error["errorType"] == "Relay.FunctionNotFound"
            assert "does not know function 'echo' (Demo/echo)" in error["errorMessage"]
            assert "restart `relay start`" in error["errorMessage"]

    run(scenario())


def test_stopping_answers_running_invocations_with_a_clear_error(
    stage: Stage, runtime: LocalRuntime
) -> None:
    async def scenario() -> None:
        async with runtime, running_client(stage, runtime) as live:
            pending = asyncio.create_task(invoke(stage, "slow", {"seconds": 5}))
            await live.until(lambda: live.running() == 1)
            await live.client.stop()
            reply, body = await asyncio.wait_for(pending, 60)
            error = json.loads(body)
            assert reply["FunctionError"] == "Unhandled"
            assert error["errorType"] == "Relay.ClientStopped"
            assert error["errorMessage"] == (
                f"`relay start` for stage {STAGE} stopped while this invocation ran; "
                "start it again and repeat the request"
            )
            assert await asyncio.wait_for(live.task, 30) == relay_client.EXIT_OK

    run(scenario())


def test_garbage_on_the_client_socket_is_skipped(stage: Stage, runtime: LocalRuntime) -> None:
    async def scenario() -> None:
        async with runtime, running_client(stage, runtime) as live:
            poster = boto3.client(
                "apigatewaymanagementapi",
                endpoint_url=stage.connections_endpoint,
                region_name=REGION,
                **stage.emu.credentials.boto3_kwargs(),
            )
            for junk in (b"not json", b'{"v": 99, "type": "invoke"}', b'{"v": 1, "type": "ack"}'):
                poster.post_to_connection(ConnectionId=live.client.connection_id, Data=junk)
            _, body = await invoke(stage, "echo", {"still": "serving"})
            assert json.loads(body)["event"] == {"still": "serving"}

    run(scenario())


def test_timeout_surfaces_in_lambda_words(stage: Stage, runtime: LocalRuntime) -> None:
    async def scenario() -> None:
        async with runtime, running_client(stage, runtime):
            # the handler sleeps 6 s: Lambda's words for a 2 s timeout prove the timeout ended it
            reply, body = await invoke(stage, "sleepy", {"seconds": 6})
            error = json.loads(body)
            assert reply["FunctionError"] == "Unhandled"
            assert re.fullmatch(
                r"\S+Z [0-9a-f-]{36} Task timed out after 2\.00 seconds", error["errorMessage"]
            ), error

    run(scenario())


# --- the stub asset on every Python runtime Lambda supports --------------------------------

LAMBDA_PYTHONS = ("3.9", "3.10", "3.11", "3.12", "3.13")
STUB_SCRIPT = """
import json, sys
import stub
class Context:
    function_name = "echo"
    aws_request_id = "req-" + sys.argv[1]
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:echo"
    memory_limit_in_mb = 128
    def get_remaining_time_in_millis(self):
        return 20000
answer = stub.handler({"python": sys.argv[1]}, Context())
print(json.dumps({"version": list(sys.version_info[:2]), "answer": json.loads(answer)}))
"""


def _interpreter(version: str) -> str | None:
    """An interpreter of this version on this machine (uv's, pyenv's or the system's)."""
    candidates = [shutil.which(f"python{version}") or ""]
    candidates += sorted(
        glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}"))
    )
    candidates += [f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            done = subprocess.run([candidate, "-c", "pass"], capture_output=True, timeout=30)
            if done.returncode == 0:
                return candidate
    return None


def _botocore_for(python: str, version: str, cache: Path) -> Path | None:
    """boto3's botocore as that Lambda runtime ships it: this environment's when it supports
    the version, else one installed once with uv for it (None when that is impossible)."""
    target = cache / f"botocore-py{version}"
    probe = [python, "-c", "import botocore.auth, botocore.session"]
    if (target / "botocore").is_dir():
        return target
    here = Path(botocore.__file__).parent.parent
    check = subprocess.run(probe, env={"PYTHONPATH": str(here)}, capture_output=True, timeout=60)
    if check.returncode == 0:
        return here
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    done = subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", python, "--target", str(target), "botocore"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return target if done.returncode == 0 else None


def _stub_env(stage: Stage, role: Any, site: Path, asset: Path, label: str) -> dict[str, str]:
    """A stubbed function's environment, as Lambda and relay's Aspect give it."""
    return {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": f"{asset}{os.pathsep}{site}",
        "AWS_ACCESS_KEY_ID": role.access_key,
        "AWS_SECRET_ACCESS_KEY": role.secret_key,
        "AWS_SESSION_TOKEN": role.session_token or "",
        "AWS_REGION": REGION,
        "RELAY_STAGE": STAGE,
        "RELAY_WS_URL": stage.websocket_url,
        "RELAY_CONNECTIONS_ENDPOINT": stage.connections_endpoint,
        "RELAY_BUCKET": stage.bucket,
        "RELAY_FUNCTION_PATH": "Demo/echo",
        "RELAY_ORIGINAL_HANDLER": "handlers.echo",
        "GREETING": f"from {label}",
    }


async def _run_stub(python: str, env: dict[str, str], label: str) -> dict[str, Any]:
    """One invocation of the stub's handler in its own interpreter (only the asset and
    botocore on its path); returns what it answered."""
    done = await asyncio.to_thread(
        subprocess.run,
        [python, "-S", "-c", STUB_SCRIPT, label],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["answer"]["event"] == {"python": label}
    assert report["answer"]["request_id"] == f"req-{label}"
    return report


@pytest.mark.parametrize("version", LAMBDA_PYTHONS)
def test_stub_asset_serves_on_every_lambda_python(
    stage: Stage, runtime: LocalRuntime, version: str
) -> None:
    """The built asset (vendored websockets 15, stub session, messages) runs one real
    invocation under each Lambda Python version found here, through the emulator and a
    relay client, with only botocore beside it (as the runtime provides)."""
    python = _interpreter(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine")
    cache = Path(os.environ.get("RELAY_TEST_CACHE", Path.home() / ".cache" / "relay-tests"))
    site = _botocore_for(python, version, cache)
    if site is None:
        pytest.skip(f"no botocore for Python {version} (uv could not install one)")
    asset = build_stub_asset(cache / "assets")
    role = stage.emu.issue_credentials("echo-role")
    env = _stub_env(stage, role, site, asset, version)

    async def scenario() -> None:
        async with runtime, running_client(stage, runtime):
            report = await _run_stub(python, env, version)
            assert report["version"] == [int(n) for n in version.split(".")]
            assert report["answer"]["env"] == f"from {version}"
            assert report["answer"]["key"] == role.access_key

    run(scenario())


def test_stub_signs_with_the_apis_region_not_its_own(
    stage: Stage, runtime: LocalRuntime, tmp_path: Path
) -> None:
    """Issue 11: a stub in another region than the debug stack signed with its own region
    and got 403; the Aspect passes the API's region as RELAY_REGION."""
    asset = build_stub_asset(tmp_path / "assets")
    site = Path(botocore.__file__).parent.parent
    role = stage.emu.issue_credentials("echo-role")
    env = _stub_env(stage, role, site, asset, "eu-west-1")
    env.update(AWS_REGION="eu-west-1", RELAY_REGION=REGION)

    async def scenario() -> None:
        async with runtime, running_client(stage, runtime):
            report = await _run_stub(sys.executable, env, "eu-west-1")
            assert report["answer"]["env"] == "from eu-west-1"

    run(scenario())


def test_stub_takes_credentials_from_the_container_endpoint(
    stage: Stage, runtime: LocalRuntime, tmp_path: Path
) -> None:
    """Issue 11: under SnapStart the role's credentials come from the container credentials
    endpoint, not the environment; the stub reads them through botocore's chain."""
    import http.server
    import threading

    role = stage.emu.issue_credentials("snapstart-role")
    document = json.dumps(
        {
            "AccessKeyId": role.access_key,
            "SecretAccessKey": role.secret_key,
            "Token": role.session_token,
            "Expiration": "2099-01-01T00:00:00Z",
        }
    ).encode()
    asked: list[str] = []

    class Endpoint(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.headers.get("Authorization", ""))
            self.send_response(200)
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    asset = build_stub_asset(tmp_path / "assets")
    env = _stub_env(stage, role, Path(botocore.__file__).parent.parent, asset, "snapstart")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        del env[name]
    env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = f"http://127.0.0.1:{server.server_port}/creds"
    env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "snapstart-token"
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")

    async def scenario() -> None:
        async with runtime, running_client(stage, runtime):
            report = await _run_stub(sys.executable, env, "snapstart")
            assert report["answer"]["key"] == role.access_key  # forwarded to the handler

    try:
        run(scenario())
    finally:
        server.shutdown()
    assert asked and set(asked) == {"snapstart-token"}
