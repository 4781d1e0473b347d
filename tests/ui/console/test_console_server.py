"""The console's feed side: with no page open it only keeps events (no rows built on the
serving loop); a page that opens later gets them all in its hello, then live rows."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import connect

from relay.observe.invocations import InvocationContext, InvocationEvent
from relay.ui.console.server import Console


def _done(n: int, status: str = "ok") -> InvocationEvent:
    return InvocationEvent(
        "shop-Charge",
        f"r{n}",
        f"i{n}",
        status,
        duration_ms=2.5,
        error_type="ValueError" if status == "error" else None,
        error_message="bad amount" if status == "error" else None,
        payload=b'{"amount": 3}',
        result=b'{"ok": true}',
        context=InvocationContext(function_name="shop-Charge", function_path="Shop/Charge"),
        cold=False,
        source="direct",
        at=200.0 + n,
    )


async def _session(console: Console) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    await console.start()
    try:
        console(InvocationEvent("shop-Charge", "r1", "i1", "running", at=100.0))
        console(_done(1))
        console(_done(2, "error"))
        ws_url = f"ws://127.0.0.1:{console.port}/ws?token={console.token}"
        async with connect(ws_url) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
            console(_done(3))
            live = json.loads(await asyncio.wait_for(ws.recv(), 10))
            standings = json.loads(await asyncio.wait_for(ws.recv(), 10))
        return hello, live, standings
    finally:
        await console.close()


def test_events_before_the_page_opens_arrive_in_its_hello_then_rows_go_live() -> None:
    console = Console(stage="dev", functions={"shop-Charge": "Shop/Charge"})
    hello, live, standings = asyncio.run(_session(console))
    assert [(r["id"], r["status"], r["at"]) for r in hello["rows"]] == [
        ("i1", "ok", 100.0),  # started at the running event's time
        ("i2", "error", 202.0),
    ]
    assert hello["rows"][1]["error"] == "ValueError: bad amount"
    assert hello["rows"][0]["path"] == "Shop/Charge"
    assert hello["functions"] == [
        {
            "name": "shop-Charge",
            "path": "Shop/Charge",
            "invocations": 2,
            "errors": 1,
            "reloads": 0,
            "last_error": "ValueError: bad amount",
        }
    ]
    assert live["op"] == "invocation"
    assert (live["row"]["id"], live["row"]["status"], live["row"]["duration_ms"]) == (
        "i3",
        "ok",
        2.5,
    )
    assert standings["op"] == "functions"
    assert standings["functions"][0]["invocations"] == 3
