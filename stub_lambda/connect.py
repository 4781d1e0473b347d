"""``$connect`` / ``$disconnect`` / ``$default`` of relay's API Gateway WebSocket API.

Keeps the connection table (DynamoDB, ``RELAY_TABLE``, hash key ``pk``) that lets a stub find
its stage's relay client on a cold start. Only the cold path comes here: a warm stub posts to
the client directly. Items (hash key ``pk``, range key ``sk``, TTL attribute ``expires_at``,
as ``infra/debug_stack.py`` creates the table):

- ``pk=conn#<connection id>, sk=connection``: ``role`` (stub or client), ``stage``
- ``pk=stage#<stage>, sk=client``: ``connection_id`` of the stage's newest client

The newest client of a stage wins; the one it replaces is told so with a ``replaced`` message.
Only the principal that ran ``relay start`` for the stage (``RELAY_CLIENT_PRINCIPAL``, set by
the debug stack at go-live) may connect as the client: the client receives every event, the
functions' environments and their role credentials, so a stub role or another developer
with ``execute-api:Invoke`` on the API is refused with 403. API Gateway puts the signer of the
IAM-authorized ``$connect`` in ``requestContext.identity.userArn``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from typing import Any

try:  # in the stub asset, messages.py is a sibling module
    import messages
except ModuleNotFoundError:  # in relay's own source tree
    from relay.link import messages  # type: ignore[no-redef]

# Connections live at most 2 h in API Gateway; the TTL only sweeps up missed $disconnects.
TTL_SECONDS = 3 * 3600
TTL_ATTRIBUTE = "expires_at"
#: The table layout this handler expects, as `create_table` arguments (infra/debug_stack.py
#: declares the same keys for AWS; tests and benchmarks create the table from this).
TABLE_LAYOUT: dict = {
    "KeySchema": [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ],
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ],
    "BillingMode": "PAY_PER_REQUEST",
}
#: The ARN (as STS ``GetCallerIdentity`` and ``requestContext.identity.userArn`` give it) of
#: the one principal allowed to connect as the stage's client.
CLIENT_PRINCIPAL_ENV = "RELAY_CLIENT_PRINCIPAL"
STAGE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

_clients: dict[str, Any] = {}


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:  # noqa: ARG001
    """Lambda entry point for all three routes."""
    request = event.get("requestContext") or {}
    route = request.get("routeKey")
    connection_id = request.get("connectionId")
    if not isinstance(connection_id, str) or not connection_id:
        return _reply(400, "relay: event has no requestContext.connectionId")
    if route == "$connect":
        return _connect(event, connection_id)
    if route == "$disconnect":
        _disconnect(connection_id)
        return _reply(200, "bye")
    return _message(event, connection_id)


def _connect(event: dict[str, Any], connection_id: str) -> dict[str, Any]:
    query = event.get("queryStringParameters") or {}
    role, stage = query.get("role"), query.get("stage")
    if role not in messages.ROLES:
        return _reply(400, f"relay: query parameter role must be stub or client, not {role!r}")
    if not isinstance(stage, str) or not STAGE_PATTERN.match(stage):
        return _reply(
            400,
            f"relay: query parameter stage {stage!r} is not a stage name "
            "(letters, digits, - and _, at most 64)",
        )
    if role == "client":
        refusal = _refuse_client(event, stage)
        if refusal is not None:
            return refusal
    table = _table()
    expires = int(time.time()) + TTL_SECONDS
    table.put_item(
        Item={**_conn_key(connection_id), "role": role, "stage": stage, TTL_ATTRIBUTE: expires}
    )
    if role == "client":
        old = table.put_item(
            Item={**_client_key(stage), "connection_id": connection_id, TTL_ATTRIBUTE: expires},
            ReturnValues="ALL_OLD",
        ).get("Attributes", {})
        previous = old.get("connection_id")
        if previous and previous != connection_id:
            table.delete_item(Key=_conn_key(previous))
            _post(event, previous, messages.Replaced(stage=stage, by=connection_id))
    return _reply(200, "connected")


def _refuse_client(event: dict[str, Any], stage: str) -> dict[str, Any] | None:
    """403 unless the signer of ``$connect`` is the principal recorded at go-live."""
    owner = os.environ.get(CLIENT_PRINCIPAL_ENV)
    identity = (event.get("requestContext") or {}).get("identity") or {}
    caller = identity.get("userArn")
    if not owner:
        print(f"relay: refused a client for stage {stage}: {CLIENT_PRINCIPAL_ENV} is not set")
        return _reply(
            403,
            f"relay: the gateway of stage {stage} does not know who may connect as its client "
            f"(an old debug stack); run `relay start --stage {stage}` to deploy it again.",
        )
    if caller != owner:
        caller = caller or "no IAM principal"
        print(f"relay: refused {caller!r} as the client of stage {stage} (owner {owner})")
        return _reply(
            403,
            f"relay: only {owner}, who ran `relay start --stage {stage}`, may connect as the "
            f"client of stage {stage}; this connection is signed by {caller}. "
            "Use a stage of your own: `relay start --stage NAME`.",
        )
    return None


def _conn_key(connection_id: str) -> dict[str, str]:
    return {"pk": f"conn#{connection_id}", "sk": "connection"}


def _client_key(stage: str) -> dict[str, str]:
    return {"pk": f"stage#{stage}", "sk": "client"}


def _disconnect(connection_id: str) -> None:
    table = _table()
    record = table.delete_item(Key=_conn_key(connection_id), ReturnValues="ALL_OLD").get(
        "Attributes", {}
    )
    if record.get("role") != "client":
        return
    # Only if this connection is still the stage's client (not already replaced).
    with contextlib.suppress(table.meta.client.exceptions.ConditionalCheckFailedException):
        table.delete_item(
            Key=_client_key(record["stage"]),
            ConditionExpression="connection_id = :me",
            ExpressionAttributeValues={":me": connection_id},
        )


def _message(event: dict[str, Any], connection_id: str) -> dict[str, Any]:
    try:
        message = messages.decode(event.get("body") or "")
    except messages.ProtocolError as exc:
        print(f"relay: ignored a message from connection {connection_id}: {exc}")
        return _reply(400, f"relay: {exc}")
    if isinstance(message, messages.Hello):
        item = (
            _table().get_item(Key=_client_key(message.stage), ConsistentRead=True).get("Item", {})
        )
        client_id = item.get("connection_id")
        if client_id is not None and float(item.get(TTL_ATTRIBUTE, 0)) < time.time():
            client_id = None  # expired: DynamoDB's TTL sweep may lag by hours
        welcome = messages.Welcome(
            stage=message.stage,
            connection_id=connection_id,
            client_id=client_id,
            nonce=message.nonce,
        )
        _post(event, connection_id, welcome)
        return _reply(200, "welcome")
    if isinstance(message, messages.Ping):
        return _reply(200, "pong")  # receiving it was the point: the idle timer restarts
    print(f"relay: ignored a {message.type} message on $default from {connection_id}")
    return _reply(400, f"relay: {message.type} messages are not handled on $default")


def _post(event: dict[str, Any], connection_id: str, message: messages.Message) -> bool:
    """PostToConnection; False when the connection is already gone (410)."""
    client = _management_client(_endpoint(event))
    try:
        client.post_to_connection(ConnectionId=connection_id, Data=messages.encode_bytes(message))
    except client.exceptions.GoneException:
        return False
    return True


def _endpoint(event: dict[str, Any]) -> str:
    configured = os.environ.get("RELAY_CONNECTIONS_ENDPOINT")
    if configured:
        return configured
    request = event.get("requestContext") or {}
    return f"https://{request.get('domainName')}/{request.get('stage')}"


def _management_client(endpoint: str) -> Any:
    client = _clients.get(endpoint)
    if client is None:
        import boto3

        client = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint)
        _clients[endpoint] = client
    return client


def _table() -> Any:
    name = os.environ.get("RELAY_TABLE")
    if not name:
        raise RuntimeError("relay: RELAY_TABLE is not set; redeploy with `relay start`")
    table = _clients.get(f"table:{name}")
    if table is None:
        import boto3

        table = boto3.resource("dynamodb").Table(name)
        _clients[f"table:{name}"] = table
    return table


def _reply(status: int, body: str) -> dict[str, Any]:
    return {"statusCode": status, "body": json.dumps({"message": body})}
