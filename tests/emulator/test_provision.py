"""Provisioning an unmodified CDK app into the emulator from its live-mode templates."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from relay.cloud.stub_asset import build_stub_asset
from relay.emulator import Emulator
from relay.emulator.provision import (
    Provisioned,
    ProvisionError,
    create,
    provision,
    synthesize,
)

SAMPLE = Path(__file__).parent.parent / "cdk" / "sample_app"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("provision") / "shop"
    shutil.copytree(SAMPLE, folder)
    return folder


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_stub_asset(tmp_path_factory.mktemp("stub-cache"))


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(region="eu-west-1", account_id="210987654321") as emu:
        yield emu


@pytest.fixture(scope="module")
def stage(emulator: Emulator, project: Path, stub: Path) -> Provisioned:
    return provision(emulator, project=project, stage="alice", stub_dir=stub)


def client(emulator: Emulator, service: str) -> Any:
    access, secret = emulator.credentials[0], emulator.credentials[1]
    return boto3.client(
        service, endpoint_url=emulator.endpoints[service], region_name="eu-west-1",
        aws_access_key_id=access, aws_secret_access_key=secret,
    )  # fmt: skip


def test_synthesis_needs_no_emulator_and_is_created_for_its_own_region_only(
    stage: Provisioned, emulator: Emulator, project: Path, stub: Path
) -> None:
    """relay start synthesizes while the emulator starts; create() then takes it."""
    synthesized = synthesize(
        project=project, stage="alice", region="eu-west-1", account="210987654321", stub_dir=stub
    )
    assert (synthesized.debug.cached, synthesized.app.cached) == (True, True)
    assert [r["path"] for r in synthesized.records if r["relayed"]] == ["shop-alice/Orders"]
    elsewhere = dataclasses.replace(synthesized, region="us-east-1")
    with pytest.raises(ProvisionError, match=r"synthesized for 210987654321/us-east-1, but the "
                       r"emulator serves 210987654321/eu-west-1"):  # fmt: skip
        create(emulator, elsewhere)


def test_stage_endpoints_are_the_emulator_gateway(stage: Provisioned, emulator: Emulator) -> None:
    [api] = emulator.websocket_apis
    assert (stage.websocket_url, stage.connections_endpoint) == (
        api.websocket_url,
        api.connections_endpoint,
    )
    assert stage.websocket_url.startswith("ws://127.0.0.1:")
    assert stage.websocket_url.endswith("/alice")
    assert stage.region == "eu-west-1"


def test_debug_table_and_bucket_exist_in_moto(stage: Provisioned, emulator: Emulator) -> None:
    ddb = client(emulator, "dynamodb")
    table = ddb.describe_table(TableName=stage.table)["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    ttl = ddb.describe_time_to_live(TableName=stage.table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    client(emulator, "s3").head_bucket(Bucket=stage.bucket)


def test_direct_mode_has_no_debug_stack(
    stage: Provisioned, emulator: Emulator, project: Path, stub: Path
) -> None:
    """relay start's direct mode has no stub and no WebSocket client: the debug stack is not
    synthesized (a first start after installing relay ran a second jsii for it) and its API,
    table and bucket are not created. The app's own resources and functions are."""
    synthesized = synthesize(
        project=project, stage="carol", region="eu-west-1", account="210987654321",
        stub_dir=stub, debug_stack=False,
    )  # fmt: skip
    assert synthesized.debug is None
    assert not (project / ".relay/stages/carol/cdk.out.debug-local").exists()
    apis_before = list(emulator.websocket_apis)
    carol = create(emulator, synthesized)
    assert emulator.websocket_apis == apis_before
    assert (carol.websocket_url, carol.connections_endpoint, carol.table, carol.bucket) == (
        "", "", "", ""
    )  # fmt: skip
    tables = client(emulator, "dynamodb").list_tables()["TableNames"]
    buckets = [b["Name"] for b in client(emulator, "s3").list_buckets()["Buckets"]]
    assert [t for t in tables if t.startswith("relay-carol-debug")] == []
    assert [t for t in tables if t.startswith("shop-carol-OrderTable")] != []
    assert [b for b in buckets if b.startswith("shop-carol-uploads")] != []
    [orders] = carol.functions
    assert orders.path == "shop-carol/Orders"
    assert orders.config.environment["PLAIN"] == "kept"
    assert orders.function_url is not None and orders.function_url.startswith("http://127.0.0.1:")


def test_python_function_created_stubbed_with_resolved_environment(
    stage: Provisioned, emulator: Emulator
) -> None:
    [orders] = stage.functions
    assert orders.path == "shop-alice/Orders"
    assert orders.handler == "orders.handler"
    assert orders.function_url is not None and orders.function_url.startswith("http://127.0.0.1:")
    conf = client(emulator, "lambda").get_function(FunctionName=orders.function_name)[
        "Configuration"
    ]
    assert conf["Handler"] == "stub.handler"
    env = conf["Environment"]["Variables"]
    table = env["TABLE"]
    assert table.startswith("shop-alice-OrderTable")
    assert client(emulator, "dynamodb").describe_table(TableName=table)["Table"]["TableName"]
    assert env["TABLE_ARN"] == f"arn:aws:dynamodb:eu-west-1:210987654321:table/{table}"
    assert env["WHERE"] == "eu-west-1/210987654321"
    assert env["PLAIN"] == "kept"
    assert env["UPLOADS_ARN"].startswith("arn:aws:s3:::shop-alice-uploads")
    client(emulator, "s3").head_bucket(Bucket=env["UPLOADS_ARN"].removeprefix("arn:aws:s3:::"))
    assert env["RELAY_WS_URL"] == stage.websocket_url
    assert env["RELAY_CONNECTIONS_ENDPOINT"] == stage.connections_endpoint
    assert env["RELAY_BUCKET"] == stage.bucket
    assert env["RELAY_STAGE"] == "alice"
    assert env["RELAY_ORIGINAL_HANDLER"] == "orders.handler"
    assert env["RELAY_FUNCTION_PATH"] == "shop-alice/Orders"


def test_local_config_runs_the_original_code(stage: Provisioned, project: Path) -> None:
    [orders] = stage.functions
    config = orders.config
    assert config.name == orders.function_name
    assert config.handler == "orders.handler"
    assert config.code_dir == project / "functions" / "orders"
    assert orders.code_dir == str(project / "functions" / "orders")
    assert config.layers == (project / "layers" / "shared",)
    assert (config.timeout, config.memory_mb) == (20.0, 512)
    assert config.environment["WHERE"] == "eu-west-1/210987654321"
    assert not [k for k in config.environment if k.startswith("RELAY_")]


def test_unsupported_and_non_python_are_listed_once(stage: Provisioned) -> None:
    assert stage.not_relayed == [
        ("shop-alice/Audit", "runtime nodejs22.x: relay runs Python handlers only")
    ]
    # the app's only: the debug stack's auto-delete provider is relay's own business
    assert stage.skipped_types == {"AWS::Lambda::Function (nodejs22.x)": 1}
    assert stage.warnings == []


def test_stub_with_no_client_answers_with_the_command_to_run(
    stage: Provisioned, emulator: Emulator
) -> None:
    """The provisioned stub really runs: with no `relay start` it says what to do."""
    [orders] = stage.functions
    started = time.monotonic()
    reply = client(emulator, "lambda").invoke(
        FunctionName=orders.function_name, Payload=json.dumps({"ping": 1}).encode()
    )
    body = reply["Payload"].read().decode()
    elapsed = time.monotonic() - started
    assert "relay start --stage alice" in body, body
    assert elapsed < 20, elapsed  # failure guard: never the 20 s function timeout


def test_second_provision_reuses_the_synthesized_templates(
    stage: Provisioned, emulator: Emulator, project: Path, stub: Path
) -> None:
    marker = stage.assembly / "relay-cache-key"
    before = marker.stat().st_mtime_ns
    again = provision(emulator, project=project, stage="alice", stub_dir=stub)
    assert marker.stat().st_mtime_ns == before
    assert [f.path for f in again.functions] == ["shop-alice/Orders"]
