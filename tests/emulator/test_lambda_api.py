"""The Invoke API through boto3's `lambda` client with endpoint_url."""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from relay.emulator import Emulator

from .conftest import client, wait_for_object


@pytest.fixture(scope="module")
def lam(emu: Emulator):
    return client(emu, "lambda")


def test_request_response_returns_the_payload(emu: Emulator, lam) -> None:
    response = lam.invoke(FunctionName="echo", Payload=b'{"a": [1, 2]}')
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in response
    body = json.loads(response["Payload"].read())
    assert body["event"] == {"a": [1, 2]}
    assert body["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:echo"
    assert body["request_id"] == response["ResponseMetadata"]["RequestId"]


def test_function_error_and_log_tail(lam) -> None:
    response = lam.invoke(FunctionName="fail", Payload=b'{"why": "test"}', LogType="Tail")
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(response["Payload"].read())
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "bad input: test"
    assert isinstance(error["stackTrace"], list)
    logs = base64.b64decode(response["LogResult"]).decode()
    assert "about to fail" in logs
    assert logs.startswith("START RequestId: ") or "\nSTART RequestId: " in logs
    assert "REPORT RequestId: " in logs


def test_log_tail_is_the_last_4_kb(lam) -> None:
    response = lam.invoke(FunctionName="echo", Payload=b"{}", LogType="Tail")
    tail = base64.b64decode(response["LogResult"])
    assert 0 < len(tail) <= 4096
    assert b"REPORT RequestId: " in tail


def test_invoke_by_arn_and_partial_arn(lam) -> None:
    for name in (
        "arn:aws:lambda:us-east-1:123456789012:function:echo",
        "123456789012:function:echo",
        "echo:$LATEST",
    ):
        assert lam.invoke(FunctionName=name, Payload=b"{}")["StatusCode"] == 200


def test_event_invocation_is_queued_and_runs(emu: Emulator, lam) -> None:
    response = lam.invoke(
        FunctionName="record", InvocationType="Event", Payload=b'{"key": "event/one"}'
    )
    assert response["StatusCode"] == 202
    assert response["Payload"].read() == b""
    assert json.loads(wait_for_object(emu, "event/one")) == {"key": "event/one"}


def test_dry_run(lam) -> None:
    response = lam.invoke(FunctionName="echo", InvocationType="DryRun", Payload=b"{}")
    assert response["StatusCode"] == 204


def test_unknown_function_is_resource_not_found(lam) -> None:
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as excinfo:
        lam.invoke(FunctionName="nope", Payload=b"{}")
    assert excinfo.value.response["Error"]["Message"] == (
        "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope"
    )
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="echo", Qualifier="7", Payload=b"{}")


def test_request_over_6_mb_is_too_large(lam) -> None:
    payload = json.dumps("x" * (6 * 1024 * 1024)).encode()
    with pytest.raises(lam.exceptions.RequestTooLargeException) as excinfo:
        lam.invoke(FunctionName="echo", Payload=payload)
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert excinfo.value.response["Error"]["Message"] == (
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    )


def test_payload_just_under_6_mb_round_trips(lam) -> None:
    size = 6 * 1024 * 1024 - 100
    response = lam.invoke(FunctionName="big", Payload=json.dumps({"size": size}).encode())
    assert len(json.loads(response["Payload"].read())) == size


def test_invalid_json_payload_is_refused(lam) -> None:
    with pytest.raises(lam.exceptions.InvalidRequestContentException):
        lam.invoke(FunctionName="echo", Payload=b"{not json")


def test_unsigned_or_unknown_key_is_refused(emu: Emulator) -> None:
    stranger = client(emu, "lambda", emu.credentials._replace(access_key="AKIASTRANGER"))
    with pytest.raises(ClientError) as excinfo:
        stranger.invoke(FunctionName="echo", Payload=b"{}")
    assert excinfo.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_functions_get_role_credentials_region_and_endpoints(emu: Emulator, lam) -> None:
    keys = [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_LAMBDA",
        "RECORD_BUCKET",
    ]
    response = lam.invoke(FunctionName="env", Payload=json.dumps({"keys": keys}).encode())
    env = json.loads(response["Payload"].read())
    assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert env["AWS_ACCESS_KEY_ID"] != emu.credentials.access_key
    assert env["AWS_SESSION_TOKEN"]
    assert env["AWS_REGION"] == "us-east-1"
    assert env["AWS_ENDPOINT_URL_DYNAMODB"] == emu.endpoints["dynamodb"]
    assert env["AWS_ENDPOINT_URL_S3"] == emu.endpoints["s3"]
    assert env["AWS_ENDPOINT_URL_LAMBDA"] == emu.endpoints["lambda"]
    assert env["RECORD_BUCKET"] == "relay-test-events"


def test_get_function_and_list_functions_hide_credentials(lam) -> None:
    got = lam.get_function(FunctionName="env")["Configuration"]
    assert got["FunctionName"] == "env"
    assert got["Handler"] == "handlers.env"
    variables = got["Environment"]["Variables"]
    assert variables["RECORD_BUCKET"] == "relay-test-events"
    assert "AWS_SECRET_ACCESS_KEY" not in variables and "AWS_SESSION_TOKEN" not in variables
    names = {f["FunctionName"] for f in lam.list_functions()["Functions"]}
    assert {"echo", "fail", "env", "url-echo"} <= names


def test_200_concurrent_invokes_are_all_answered(emu: Emulator) -> None:
    lam = client(
        emu,
        "lambda",
        config=Config(max_pool_connections=200, retries={"max_attempts": 0}, read_timeout=120),
    )
    before = emu.calls["Invoke"]

    def call(i: int) -> tuple[int, float]:
        response = lam.invoke(
            FunctionName="sleepy", Payload=json.dumps({"seconds": 0.02, "i": i}).encode()
        )
        assert "FunctionError" not in response
        return i, json.loads(response["Payload"].read())["slept"]

    with ThreadPoolExecutor(max_workers=200) as pool:
        results = list(pool.map(call, range(200)))
    assert [i for i, _ in results] == list(range(200))
    assert all(slept == 0.02 for _, slept in results)
    assert emu.calls["Invoke"] - before == 200


def test_garbage_request_gets_400_and_the_endpoint_keeps_serving(emu: Emulator, lam) -> None:
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(emu.lambda_endpoint)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as raw:
        raw.sendall(b"NOT AN HTTP REQUEST\r\n\r\n")
        reply = raw.recv(65536)
    assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"malformed request line" in reply
    assert lam.invoke(FunctionName="echo", Payload=b"{}")["StatusCode"] == 200
