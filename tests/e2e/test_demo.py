"""The README's first command: `relay start --local --stage demo --demo` on the demo app,
then its first edit: change the greeting, save, and the next request answers with it."""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.request
from pathlib import Path

from tests.e2e.relay_process import RelayProcess

ROOT = Path(__file__).resolve().parents[2]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.loads(response.read())


def test_demo_calls_each_function_and_an_edited_greeting_shows(tmp_path: Path) -> None:
    # The demo app as the repository has it, copied so the test can edit its handler.
    project = tmp_path / "relay"
    shutil.copytree(
        ROOT / "infra" / "demo", project / "demo", ignore=shutil.ignore_patterns("__pycache__")
    )
    cdk_json = json.loads((ROOT / "cdk.json").read_text())
    assert cdk_json["app"] == "python3 -m relay.cdk.demo.app"
    (project / "cdk.json").write_text(json.dumps({**cdk_json, "app": "python3 -m demo.app"}))
    relay = RelayProcess(project, "start", "--local", "--stage", "demo", "--demo").start()
    try:
        relay.wait_for(
            lambda: "demo: Invoke relay-demo-demo/RecordVisit →" in relay.output,
            "the demo calls",
            timeout=240,
        )
        output = relay.output
        greeting = re.search(
            r"demo: GET (http://127\.0\.0\.1:\d+/)\?name=relay → 200 (\{.*\})", output
        )
        assert greeting, output
        body = json.loads(greeting.group(2))
        assert body["message"] == "Hello, relay! (stage demo)"
        assert body["function"].startswith("relay-demo-demo-Greeting")
        assert 'demo: Invoke relay-demo-demo/RecordVisit → ok {"recorded": "relay-demo"}' in output

        # The README's edit: the greeting lives in the handler, not in the stack's environment.
        handler = project / "demo" / "functions" / "greeting" / "app.py"
        source = handler.read_text()
        assert source.count('GREETING = "Hello"') == 1
        handler.write_text(source.replace('GREETING = "Hello"', 'GREETING = "Hi"'))
        url = greeting.group(1) + "?name=you"
        deadline = time.monotonic() + 60
        message = _get(url)["message"]  # the dispatch check sees the save: new code at once
        while message != "Hi, you! (stage demo)" and time.monotonic() < deadline:
            time.sleep(0.05)
            message = _get(url)["message"]
        assert message == "Hi, you! (stage demo)"
    finally:
        assert relay.stop() == 0
    assert "relay: ready — stage demo is live on the embedded emulator" in relay.output
    assert "Traceback" not in relay.output
