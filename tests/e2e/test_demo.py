"""The README's first command: `relay start --local --stage demo --demo` on the demo app."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from tests.e2e.relay_process import RelayProcess

ROOT = Path(__file__).resolve().parents[2]


def test_demo_calls_each_function_through_its_front_door(tmp_path: Path) -> None:
    project = tmp_path / "relay"
    project.mkdir()
    shutil.copy(ROOT / "cdk.json", project / "cdk.json")
    relay = RelayProcess(project, "start", "--local", "--stage", "demo", "--demo").start()
    try:
        relay.wait_for(
            lambda: "demo: Invoke relay-demo-demo/RecordVisit →" in relay.output,
            "the demo calls",
            timeout=240,
        )
        output = relay.output
    finally:
        assert relay.stop() == 0
    assert "relay: ready — stage demo is live on the embedded emulator" in output
    greeting = re.search(r"demo: GET (http://127\.0\.0\.1:\d+/\?name=relay) → 200 (\{.*\})", output)
    assert greeting, output
    body = json.loads(greeting.group(2))
    assert body["message"] == "Hello, relay! (stage demo)"
    assert body["function"].startswith("relay-demo-demo-Greeting")
    assert 'demo: Invoke relay-demo-demo/RecordVisit → ok {"recorded": "relay-demo"}' in output
    assert "Traceback" not in output
