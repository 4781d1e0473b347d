"""`relay start --local --observe` on the shop app, as a developer runs it: the emulated
cloud runs the deployed code (wrapped), the laptop runs the saved code, and relay says where
their answers differ; the recording keeps both."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.e2e.relay_process import RelayProcess, connected, read_session
from tests.record.shop import APP, invoke, wait_for_record

STAGE = "rec"  # tests.record.shop's helpers read this stage's session and recordings


def test_observe_reports_where_the_saved_code_differs(tmp_path: Path) -> None:
    app = tmp_path / "shop"
    shutil.copytree(APP, app, ignore=shutil.ignore_patterns("__pycache__", "cdk.out"))
    relay = RelayProcess(app, "start", "--local", "--stage", STAGE, "--observe").start()
    try:
        relay.wait_for(connected(app, STAGE), "the client to connect", timeout=240)
        session = {**read_session(app, STAGE), "_app": app}

        same = invoke(session, "Charge", {"amount": 5})
        assert same["payload"] == {"charged": 5, "currency": "EUR", "memory": 256}
        record = wait_for_record(app, lambda r: r["request_id"] == same["request_id"])
        assert record["source"] == "observe"
        assert record["cloud"] == {"status": "ok", "result": same["payload"]}
        assert record["result"] == same["payload"]

        handler = app / "functions" / "shop" / "charge.py"
        handler.write_text(handler.read_text().replace('"currency": "EUR"', '"currency": "USD"'))
        changed = invoke(session, "Charge", {"amount": 7})
        # the cloud still runs the deployed code
        assert changed["payload"] == {"charged": 7, "currency": "EUR", "memory": 256}
        record = wait_for_record(app, lambda r: r["request_id"] == changed["request_id"])
        assert record["result"] == {"charged": 7, "currency": "USD", "memory": 256}
        assert record["cloud"]["result"] == changed["payload"]
        relay.wait_for(
            lambda: (
                f"({changed['request_id']}): local differs from the cloud: "
                'currency: "EUR" != "USD"' in relay.output
            ),
            "the difference to be reported",
            timeout=30,
        )
    finally:
        relay.stop()
