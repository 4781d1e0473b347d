"""The $connect/$disconnect/$default handler: moto's DynamoDB, a recording @connections."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from relay.link import messages
from relay.stub_lambda import connect

OWNER = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Developer_0a1b/alice@example.com"
STUB_ROLE = "arn:aws:sts::123456789012:assumed-role/shop-alice-OrdersRole-1X2Y/shop-alice-Orders"
BOB = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Developer_0a1b/bob@example.com"


@pytest.fixture(autouse=True)
def owner(monkeypatch: pytest.MonkeyPatch) -> str:
    """The principal recorded at go-live (the debug stack sets it on the handler)."""
    monkeypatch.setenv(connect.CLIENT_PRINCIPAL_ENV, OWNER)
    return OWNER


if TYPE_CHECKING:
    from conftest import Connections


def _event(route: str, connection_id: str, user_arn: str = OWNER, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "requestContext": {
            "routeKey": route,
            "eventType": {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE"),
            "connectionId": connection_id,
            "domainName": "abc.execute-api.us-east-1.amazonaws.com",
            "stage": "live",
            "identity": {"sourceIp": "127.0.0.1", "userArn": user_arn},
        },
        "isBase64Encoded": False,
    }
    event.update(extra)
    return event


def _connect(connection_id: str, role: str, stage: str, user_arn: str = OWNER) -> dict[str, Any]:
    query = {"role": role, "stage": stage}
    return connect.handler(_event("$connect", connection_id, user_arn, queryStringParameters=query))


def _hello(connection_id: str, role: str, stage: str, nonce: str = "n-1") -> dict[str, Any]:
    body = messages.encode(messages.Hello(role=role, stage=stage, nonce=nonce))
    return connect.handler(_event("$default", connection_id, body=body))


def _items(table: str) -> dict[str, dict[str, Any]]:
    items = boto3.resource("dynamodb").Table(table).scan()["Items"]
    return {f"{item['pk']}/{item['sk']}": item for item in items}


def test_connect_records_role_stage_and_ttl(relay_table: str, connections: Connections) -> None:
    assert _connect("stub-1", "stub", "alice")["statusCode"] == 200
    assert _connect("client-1", "client", "alice")["statusCode"] == 200
    items = _items(relay_table)
    assert items["conn#stub-1/connection"]["role"] == "stub"
    assert items["conn#stub-1/connection"]["stage"] == "alice"
    assert items["conn#client-1/connection"]["role"] == "client"
    assert items["stage#alice/client"]["connection_id"] == "client-1"
    ttl = int(items["stage#alice/client"][connect.TTL_ATTRIBUTE])
    assert time.time() + 2 * 3600 < ttl <= time.time() + connect.TTL_SECONDS + 5
    assert connections.posts == []  # the first client replaces nobody


def test_hello_from_stub_is_answered_with_both_connection_ids(
    relay_table: str, connections: Connections
) -> None:
    _connect("client-1", "client", "alice")
    _connect("stub-1", "stub", "alice")
    assert _hello("stub-1", "stub", "alice")["statusCode"] == 200
    assert connections.messages("stub-1") == [
        {
            "v": 1,
            "type": "welcome",
            "stage": "alice",
            "connection_id": "stub-1",
            "client_id": "client-1",
            "nonce": "n-1",
        }
    ]


def test_hello_without_client_says_none(relay_table: str, connections: Connections) -> None:
    _connect("client-bob", "client", "bob")  # another stage's client must not be used
    _connect("stub-1", "stub", "alice")
    _hello("stub-1", "stub", "alice")
    (welcome,) = connections.messages("stub-1")
    assert welcome["client_id"] is None


def test_new_client_replaces_old_one(relay_table: str, connections: Connections) -> None:
    _connect("client-1", "client", "alice")
    _connect("client-2", "client", "alice")
    assert connections.messages("client-1") == [
        {"v": 1, "type": "replaced", "stage": "alice", "by": "client-2"}
    ]
    items = _items(relay_table)
    assert "conn#client-1/connection" not in items
    assert items["stage#alice/client"]["connection_id"] == "client-2"
    # The replaced client's late $disconnect must not remove its successor.
    connect.handler(_event("$disconnect", "client-1"))
    assert _items(relay_table)["stage#alice/client"]["connection_id"] == "client-2"


def test_replacing_a_client_that_is_already_gone(
    relay_table: str, connections: Connections
) -> None:
    _connect("client-1", "client", "alice")
    connections.gone.add("client-1")
    assert _connect("client-2", "client", "alice")["statusCode"] == 200
    assert _items(relay_table)["stage#alice/client"]["connection_id"] == "client-2"


def test_disconnect_of_the_current_client_clears_the_stage(
    relay_table: str, connections: Connections
) -> None:
    _connect("client-1", "client", "alice")
    _connect("stub-1", "stub", "alice")
    connect.handler(_event("$disconnect", "client-1"))
    connect.handler(_event("$disconnect", "stub-1"))
    assert _items(relay_table) == {}
    _hello("stub-2", "stub", "alice")
    assert connections.messages("stub-2")[0]["client_id"] is None


def test_bad_connect_parameters_are_rejected_clearly(
    relay_table: str, connections: Connections
) -> None:
    reply = _connect("x", "admin", "alice")
    assert reply["statusCode"] == 400
    assert "role must be stub or client, not 'admin'" in json.loads(reply["body"])["message"]
    reply = connect.handler(_event("$connect", "x", queryStringParameters=None))
    assert reply["statusCode"] == 400
    reply = _connect("x", "client", "../etc")
    assert reply["statusCode"] == 400
    assert "is not a stage name" in json.loads(reply["body"])["message"]
    assert _items(relay_table) == {}


def test_garbage_on_default_is_rejected_and_handler_keeps_serving(
    relay_table: str, connections: Connections, capsys: Any
) -> None:
    reply = connect.handler(_event("$default", "stub-1", body="not json"))
    assert reply["statusCode"] == 400
    assert "message is not JSON" in json.loads(reply["body"])["message"]
    assert "ignored a message from connection stub-1" in capsys.readouterr().out
    reply = connect.handler(_event("$default", "stub-1", body='{"v": 9, "type": "hello"}'))
    assert "upgrade relay" in json.loads(reply["body"])["message"]
    ping = connect.handler(_event("$default", "c", body=messages.encode(messages.Ping("n"))))
    assert ping["statusCode"] == 200
    _connect("client-1", "client", "alice")
    _hello("stub-1", "stub", "alice")
    assert connections.messages("stub-1")[0]["client_id"] == "client-1"


def test_a_stub_role_is_refused_as_client(relay_table: str, connections: Connections) -> None:
    assert _connect("client-1", "client", "alice")["statusCode"] == 200
    reply = _connect("evil-1", "client", "alice", user_arn=STUB_ROLE)
    assert reply["statusCode"] == 403
    assert json.loads(reply["body"])["message"] == (
        f"relay: only {OWNER}, who ran `relay start --stage alice`, may connect as the client "
        f"of stage alice; this connection is signed by {STUB_ROLE}. Use a stage of your own: "
        "`relay start --stage NAME`."
    )
    # Nothing changed: the real client stays the stage's client and was not told to leave.
    items = _items(relay_table)
    assert items["stage#alice/client"]["connection_id"] == "client-1"
    assert "conn#evil-1/connection" not in items
    assert connections.posts == []
    # The same role connects as a stub as usual.
    assert _connect("stub-1", "stub", "alice", user_arn=STUB_ROLE)["statusCode"] == 200


def test_a_second_developer_is_refused_as_client(
    relay_table: str, connections: Connections
) -> None:
    reply = _connect("bob-1", "client", "alice", user_arn=BOB)
    assert reply["statusCode"] == 403
    assert f"signed by {BOB}" in json.loads(reply["body"])["message"]
    reply = connect.handler(
        _event("$connect", "anon-1", "", queryStringParameters={"role": "client", "stage": "alice"})
    )
    assert "signed by no IAM principal" in json.loads(reply["body"])["message"]
    assert _items(relay_table) == {}


def test_without_a_recorded_owner_no_client_is_accepted(
    relay_table: str, connections: Connections, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(connect.CLIENT_PRINCIPAL_ENV)
    reply = _connect("client-1", "client", "alice")
    assert reply["statusCode"] == 403
    assert (
        "run `relay start --stage alice` to deploy it again" in json.loads(reply["body"])["message"]
    )
    assert _connect("stub-1", "stub", "alice")["statusCode"] == 200
