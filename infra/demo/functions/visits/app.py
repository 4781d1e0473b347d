"""Processes ``relay.demo`` / ``Visit`` EventBridge events into the app's table."""

from __future__ import annotations

import os
import time
from typing import Any

import boto3

_table = None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _table
    if _table is None:
        _table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
    detail = event.get("detail") or {}
    name = str(detail.get("name", "anonymous"))
    _table.put_item(
        Item={
            "pk": f"visit#{name}",
            "sk": f"{time.time_ns()}#{event.get('id', '')}",
            "via": "event",
        }
    )
    return {"recorded": name}
