"""`relay start --demo`: call each live function once through its real front door.

Function URLs are fetched over HTTP and other functions invoked through the Lambda Invoke
API, exactly as a trigger in the cloud would, so the README's first command shows the whole
path working before the developer types anything.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any


def _sample_event() -> dict[str, Any]:
    """An EventBridge-shaped event; the demo's event-driven function records a visit."""
    return {
        "version": "0",
        "id": f"demo-{int(time.time())}",
        "source": "relay.demo",
        "detail-type": "Visit",
        "detail": {"name": "relay-demo"},
        "resources": [],
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def run_demo_calls(target: Any, view: Any) -> None:
    from relay.commands.invoke import lambda_client

    client = None
    for fn in target.functions:
        if fn.function_url:
            url = fn.function_url.rstrip("/") + "/?name=relay"
            with urllib.request.urlopen(url, timeout=30) as response:
                body = response.read().decode()
            view.info(f"demo: GET {url} → {response.status} {body}")
            view.info(f"try it yourself: curl '{url}'")
        else:
            if client is None:
                client = lambda_client(target.mode, target.region, target.lambda_endpoint)
            event = _sample_event()
            response = client.invoke(
                FunctionName=fn.function_name, Payload=json.dumps(event).encode()
            )
            payload = response["Payload"].read().decode()
            status = "function error" if response.get("FunctionError") else "ok"
            view.info(f"demo: Invoke {fn.path} → {status} {payload}")
    view.info(
        "edit a handler under infra/demo/functions/ and call it again: the next invocation "
        "runs the new code."
    )
