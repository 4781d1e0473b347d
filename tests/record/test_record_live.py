"""Record and replay through the real path: `relay start --local` on the shop app, invoked
through its function URL and the Lambda Invoke API, then `relay events` / `relay replay` /
`relay replay --as-test` as a developer runs them, and pytest on the written test."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from tests.record.shop import (
    STAGE,
    events_folder,
    function_url,
    invoke,
    post,
    relay_command,
    wait_for_record,
)

HEADER_SECRET = "hdr-planted-secret-5c2e9a"
API_KEY_SECRET = "key-planted-secret-77b1"
ENV_SECRET = "sk_live_planted_env_secret_8d1f"


def relay(app: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return relay_command(app, STAGE, *args)


def pytest_file(test_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=test_file.parent,
    )


def charge(shop: dict[str, Any], amount: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Invoke Charge live; the answer and its recording."""
    answer = invoke(shop, "Charge", {"amount": amount, "order": str(uuid.uuid4())})
    record = wait_for_record(shop["_app"], lambda r: r["request_id"] == answer["request_id"])
    return answer, record


def test_function_url_invocation_is_recorded_without_secrets(shop: dict[str, Any]) -> None:
    order = str(uuid.uuid4())
    basket = {
        "order": order,
        "email": "ada@example.com",
        "items": [{"qty": 2, "price": 5}, {"qty": 1, "price": 7}],
    }
    status, body = post(
        function_url(shop, "Checkout"),
        basket,
        {"Authorization": f"Bearer {HEADER_SECRET}", "X-Api-Key": API_KEY_SECRET},
    )
    assert (status, body) == (200, {"total": 17, "currency": "EUR", "email": "ada@example.com"})
    app = shop["_app"]
    record = wait_for_record(app, lambda r: order in json.dumps(r.get("event")))

    assert record["trigger"] == "function-url"
    assert record["status"] == "ok"
    assert record["function"]["function_path"].endswith("/Checkout")
    assert record["function"]["handler"] == "checkout.handler"
    assert record["context"]["timeout_s"] == 10.0
    assert record["context"]["memory_mb"] == 128
    assert record["context"]["function_name"] == record["function"]["name"]
    assert isinstance(record["cold"], bool) and record["duration_ms"] > 0
    assert "checkout for 2 item(s), signed True" in record["logs"]
    headers = record["event"]["headers"]
    assert headers["authorization"] == "***" and headers["x-api-key"] == "***"
    assert headers["content-type"] == "application/json"
    # the project's redaction hook (cdk.json context relay.redact: body.email)
    assert json.loads(record["event"]["body"])["email"] == "***"
    assert json.loads(record["event"]["body"])["items"] == basket["items"]
    assert json.loads(record["result"]["body"]) == {"total": 17, "currency": "EUR", "email": "***"}
    assert "body.email" in record["redacted"]

    folder = events_folder(app)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        text = path.read_text()
        for secret in (HEADER_SECRET, API_KEY_SECRET, ENV_SECRET, "ada@example.com"):
            assert secret not in text, f"{secret} leaked into {path.name}"
        assert "AWS_SECRET_ACCESS_KEY" not in text and "PAYMENT_API_SECRET" not in text


def test_replay_answers_exactly_as_recorded(shop: dict[str, Any]) -> None:
    answer, record = charge(shop, 42)
    assert answer["error"] is None
    assert (
        record["result"] == answer["payload"] == {"charged": 42, "currency": "EUR", "memory": 256}
    )

    done = relay(shop["_app"], "replay", record["id"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == record["result"]
    assert f"replay of {record['id']} answers as recorded" in done.stderr


def test_events_lists_and_filters(shop: dict[str, Any]) -> None:
    _, ok = charge(shop, 3)
    failed_answer, failed = charge(shop, -1)
    assert failed_answer["error"] == "Unhandled"
    assert failed["error"] == {"type": "ValueError", "message": "amount must be positive, got -1"}

    everything = relay(shop["_app"], "events", "--limit", "0")
    assert ok["id"] in everything.stdout and failed["id"] in everything.stdout
    errors = relay(shop["_app"], "events", "--errors", "--limit", "0")
    assert failed["id"] in errors.stdout and ok["id"] not in errors.stdout
    assert "ValueError" in errors.stdout
    checkout_only = relay(shop["_app"], "events", "--function", "Checkout", "--limit", "0")
    assert ok["id"] not in checkout_only.stdout


def _copy_project(app: Path, into: Path) -> Path:
    """The app and its tests in a new place, so a test may change the handler safely."""
    target = into / "shop"
    shutil.copytree(app, target, ignore=shutil.ignore_patterns(".relay", "cdk.out", "*.log"))
    return target


def test_as_test_passes_and_catches_a_changed_handler(shop: dict[str, Any], tmp_path: Path) -> None:
    _, record = charge(shop, 9)
    app = shop["_app"]
    test_file = app / "tests" / f"test_charge_{record['id']}.py"
    done = relay(app, "replay", record["id"], "--as-test", str(test_file))
    assert done.returncode == 0, done.stderr
    source = test_file.read_text()
    assert "EVENT = {'amount': 9" in source and "invoke_handler(" in source
    assert "CODE_DIR = HERE / '../functions/shop'" in source

    passed = pytest_file(test_file)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "1 passed" in passed.stdout

    again = relay(app, "replay", record["id"], "--as-test", str(test_file))
    assert again.returncode == 2 and "already exists" in again.stderr

    copy = _copy_project(app, tmp_path)
    handler = copy / "functions" / "shop" / "charge.py"
    handler.write_text(handler.read_text().replace('"currency": "EUR"', '"currency": "USD"'))
    failed = pytest_file(copy / "tests" / test_file.name)
    assert failed.returncode == 1, failed.stdout
    assert "'currency': 'USD'" in failed.stdout and "1 failed" in failed.stdout


def test_as_test_of_an_error_passes_once_fixed(shop: dict[str, Any], tmp_path: Path) -> None:
    _, record = charge(shop, 0)
    assert record["status"] == "error"
    app = shop["_app"]
    written = app / "tests" / f"test_charge_zero_{record['id']}.py"
    done = relay(app, "replay", record["id"], "--as-test", str(written))
    assert done.returncode == 0, done.stderr
    assert "amount must be positive, got 0" in written.read_text()  # the docstring says why

    copy = _copy_project(app, tmp_path)
    test_file = copy / "tests" / written.name
    still = pytest_file(test_file)
    assert still.returncode == 1 and "ValueError" in still.stdout

    handler = copy / "functions" / "shop" / "charge.py"
    handler.write_text(handler.read_text().replace("if amount <= 0:", "if amount < 0:"))
    fixed = pytest_file(test_file)
    assert fixed.returncode == 0, fixed.stdout


def test_replay_watch_runs_again_on_every_save(shop: dict[str, Any], tmp_path: Path) -> None:
    import queue
    import threading

    from relay.record.store import EventStore

    _, record = charge(shop, 11)
    copy = _copy_project(shop["_app"], tmp_path)
    record["function"]["code_dir"] = str(copy / "functions" / "shop")
    EventStore(events_folder(copy)).add(record)
    watcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "relay",
            "replay",
            record["id"],
            "--watch",
            "--stage",
            STAGE,
            "--app",
            str(copy),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=copy,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in watcher.stdout], daemon=True).start()
    said: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [said.put(x) for x in watcher.stderr], daemon=True).start()

    def wait_said(text: str) -> None:
        deadline = time.monotonic() + 60
        while (
            line := said.get(timeout=max(0.0, deadline - time.monotonic()))
        ) and text not in line:
            pass

    try:
        first = json.loads(lines.get(timeout=60))  # a deadline, not a pace
        assert first == {"charged": 11, "currency": "EUR", "memory": 256}
        wait_said(f"replay of {record['id']} answers as recorded")
        handler = copy / "functions" / "shop" / "charge.py"
        handler.write_text(handler.read_text().replace('"currency": "EUR"', '"currency": "GBP"'))
        after_save = json.loads(lines.get(timeout=60))
        assert after_save == {"charged": 11, "currency": "GBP", "memory": 256}
        wait_said('currency: "EUR" != "GBP"')
    finally:
        watcher.terminate()
        watcher.wait(30)


def test_replay_takes_the_environment_it_never_recorded(shop: dict[str, Any]) -> None:
    order = str(uuid.uuid4())
    status, _ = post(function_url(shop, "Checkout"), {"order": order, "items": []})
    assert status == 200
    record = wait_for_record(shop["_app"], lambda r: order in json.dumps(r.get("event")))

    bare = relay(shop["_app"], "replay", record["id"])
    assert bare.returncode == 1  # the handler reads PAYMENT_API_SECRET, which was not recorded
    assert json.loads(bare.stdout)["errorType"] == "KeyError"
    assert "status: ok != error" in bare.stderr

    given = relay(
        shop["_app"], "replay", record["id"],
        "--env", "PAYMENT_API_SECRET=local-test-value", "--env", "CURRENCY=EUR",
    )  # fmt: skip
    assert given.returncode == 0, given.stderr
    assert json.loads(json.loads(given.stdout)["body"]) == {
        "total": 0, "currency": "EUR", "email": None,
    }  # fmt: skip
    assert "answers as recorded" in given.stderr

    wrong = relay(shop["_app"], "replay", record["id"], "--env", "not a pair")
    assert wrong.returncode == 2 and "is not NAME=VALUE" in wrong.stderr
