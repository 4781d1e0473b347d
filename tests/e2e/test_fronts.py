"""The app's real front doors on `relay start --local`: a REST API and an HTTP API, an
SQS-triggered function writing to a TableV2 table, an S3 → SNS → SQS chain and a schedule
(fired with `relay trigger`). Each reaches the local handler (run by relay's client), and
each result is read back through the emulator's endpoints with boto3."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import urllib3
from boto3.dynamodb.conditions import Attr

from relay.emulator import LOCAL_CREDENTIALS
from tests.e2e.relay_process import RelayProcess, connected, read_session

APP = Path(__file__).parent / "fronts_app"
STAGE = "fronts"
HTTP = urllib3.PoolManager(retries=False, timeout=60)


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One synthesis and one `relay start --local` for every test in this module."""
    app = tmp_path_factory.mktemp("fronts") / "shop"
    shutil.copytree(APP, app, ignore=shutil.ignore_patterns("__pycache__", "cdk.out"))
    relay = RelayProcess(app, "start", "--local", "--stage", STAGE).start()
    try:
        relay.wait_for(connected(app, STAGE), "the client to connect", timeout=300)
        session = read_session(app, STAGE)
        session["_process"], session["_app"] = relay, app
        yield session
    finally:
        relay.stop()


def aws(session: dict[str, Any], service: str, **kwargs: Any) -> Any:
    return boto3.client(
        service,
        endpoint_url=session["endpoint_url"],
        region_name=session["region"],
        **LOCAL_CREDENTIALS.boto3_kwargs(),
        **kwargs,
    )


def resources(session: dict[str, Any]) -> dict[str, str]:
    return session["stacks"]["shop"]["resources"]


def physical(session: dict[str, Any], prefix: str) -> str:
    return next(v for k, v in resources(session).items() if k.startswith(prefix))


def api(session: dict[str, Any], kind: str) -> str:
    (url,) = [a["url"] for a in session["apis"] if a["type"] == kind]
    return url


def wait_item(session: dict[str, Any], key: str, timeout: float = 60.0) -> dict[str, Any]:
    table = physical(session, "Orders")
    ddb = aws(session, "dynamodb")
    deadline = time.monotonic() + timeout
    while True:
        item = ddb.get_item(TableName=table, Key={"pk": {"S": key}}).get("Item")
        if item is not None:
            return item
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no item {key} in {table} within {timeout} s:\n"
                f"{session['_process'].output[-3000:]}"
            )
        time.sleep(0.05)


def test_session_describes_the_front_doors_and_stacks(shop: dict[str, Any]) -> None:
    paths = {(a["type"], a["path"]) for a in shop["apis"]}
    assert paths == {("REST", "shop/ShopApi"), ("HTTP", "shop/ShopHttp")}
    assert api(shop, "REST").endswith("/prod/") and api(shop, "HTTP").endswith("/")
    assert shop["endpoint_url"].startswith("http://127.0.0.1:")
    outputs = shop["stacks"]["shop"]["outputs"]
    assert outputs["RestUrl"] == api(shop, "HTTP").rstrip("/")
    assert any(v == api(shop, "REST") for v in outputs.values())
    queue_url = physical(shop, "OrdersQueue")
    assert queue_url.startswith(shop["endpoint_url"])
    assert aws(shop, "sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])


def test_rest_api_to_sqs_to_tablev2_and_back_through_both_apis(shop: dict[str, Any]) -> None:
    order_id = uuid.uuid4().hex[:8]
    response = HTTP.request(
        "POST",
        api(shop, "REST") + "orders",
        body=json.dumps({"id": order_id, "total": 42}),
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 202, response.data
    assert json.loads(response.data) == {"queued": order_id}
    # The worker (SQS event source, batch of up to 5) stored it with the secret and the flag.
    item = wait_item(shop, order_id)
    assert item["total"] == {"S": "42"} and item["flag"] == {"S": "on"}
    assert int(item["secret_length"]["N"]) >= 20
    via_rest = HTTP.request("GET", api(shop, "REST") + f"orders/{order_id}")
    assert via_rest.status == 200, via_rest.data + shop["_process"].output[-3000:].encode()
    assert json.loads(via_rest.data)["total"] == "42"
    via_http = HTTP.request("GET", api(shop, "HTTP") + f"orders/{order_id}")
    assert via_http.status == 200 and json.loads(via_http.data)["pk"] == order_id
    missing = HTTP.request("GET", api(shop, "HTTP") + "orders/nope")
    assert missing.status == 404 and json.loads(missing.data) == {"missing": "nope"}
    assert HTTP.request("GET", api(shop, "HTTP") + "unrouted").status == 404


def test_rest_api_cors_preflight_as_configured(shop: dict[str, Any]) -> None:
    response = HTTP.request(
        "OPTIONS",
        api(shop, "REST") + "orders",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert response.headers["Access-Control-Allow-Methods"] == "GET,POST"


def test_s3_to_sns_to_sqs_chain_reaches_the_inbox_function(shop: dict[str, Any]) -> None:
    s3 = aws(shop, "s3")
    bucket = physical(shop, "Uploads")
    s3.put_object(Bucket=bucket, Key="other/ignored.csv", Body=b"a,b")
    s3.put_object(Bucket=bucket, Key="incoming/ignored.txt", Body=b"x")
    s3.put_object(Bucket=bucket, Key="incoming/day1.csv", Body=b"a,b\n1,2\n")
    item = wait_item(shop, "upload:incoming/day1.csv")
    assert item["bucket"] == {"S": bucket}
    table = boto3.resource(
        "dynamodb",
        endpoint_url=shop["endpoint_url"],
        region_name="us-east-1",
        **LOCAL_CREDENTIALS.boto3_kwargs(),
    ).Table(physical(shop, "Orders"))
    uploads = table.scan(FilterExpression=Attr("pk").begins_with("upload:"))["Items"]
    assert [u["pk"] for u in uploads] == ["upload:incoming/day1.csv"]


def relay_cli(shop: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "relay", *args, "--stage", STAGE, "--app", str(shop["_app"])],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_schedule_fires_with_relay_trigger_and_a_fast_forwarded_clock(
    shop: dict[str, Any],
) -> None:
    table = boto3.resource(
        "dynamodb",
        endpoint_url=shop["endpoint_url"],
        region_name="us-east-1",
        **LOCAL_CREDENTIALS.boto3_kwargs(),
    ).Table(physical(shop, "Orders"))

    def nightly() -> list[dict[str, Any]]:
        return table.scan(FilterExpression=Attr("pk").begins_with("nightly:"))["Items"]

    assert nightly() == []
    done = relay_cli(shop, "trigger", "NightlyRule")
    assert done.returncode == 0, done.stderr
    assert "fired shop/NightlyRule (cron(0 3 * * ? *))" in done.stdout
    deadline = time.monotonic() + 60
    while not nightly():
        assert time.monotonic() < deadline, shop["_process"].output[-3000:]
        time.sleep(0.05)
    assert nightly()[0]["detail_type"] == "Scheduled Event"
    # A day later on the emulator's clock: the daily cron fires exactly once more.
    moved = relay_cli(shop, "trigger", "--after", "86400")
    assert moved.returncode == 0, moved.stderr
    assert "1 schedule firing(s)" in moved.stdout
    while len(nightly()) < 2:
        assert time.monotonic() < deadline, shop["_process"].output[-3000:]
        time.sleep(0.05)
    unknown = relay_cli(shop, "trigger", "NoSuchRule")
    assert unknown.returncode == 2 and "shop/NightlyRule" in unknown.stderr


def test_every_event_ran_in_the_local_handlers(shop: dict[str, Any]) -> None:
    """relay's live view prints `<path> ok` for each invocation its local runtime ran."""
    output = shop["_process"].output
    for function in ("shop/Api", "shop/Worker", "shop/Inbox", "shop/Nightly"):
        assert f"{function} ok" in output, output[-3000:]
