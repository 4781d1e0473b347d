"""The recorder's writer: batches reach the disk whole, private, in order, without secrets, and
nothing queued is lost when relay stops (close, or Ctrl-C through the interpreter's exit)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from relay.observe.invocations import InvocationContext, InvocationEvent
from relay.record.recorder import Recorder
from relay.record.store import EventStore

ROOT = Path(__file__).resolve().parents[2]
ROLE_SECRET = "role-secret-planted-4f1e0b"
SESSION_TOKEN = "session-token-planted-a93c"
HEADER_TOKEN = "bearer-planted-77d2"


def _event(n: int, at: float = 1_700_000_000.0, **extra: object) -> InvocationEvent:
    body = {"n": n, **extra}
    return InvocationEvent(
        function="Greeting",
        request_id=f"req-{n}",
        invocation_id=f"inv-{n}",
        status="ok",
        duration_ms=1.0,
        payload=json.dumps(body).encode(),
        result=json.dumps({"statusCode": 200, "body": str(n)}).encode(),
        context=InvocationContext(function_name="Greeting", handler="app.handler"),
        cold=False,
        source="direct",
        at=at,
    )


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[Recorder]:
    rec = Recorder(EventStore(tmp_path / "events"), "test", [])
    yield rec
    rec.close()


def _on_disk(folder: Path) -> list[dict]:
    store = EventStore(folder)
    return [store.load(entry) for entry in store.entries()]


def test_close_writes_every_queued_event(recorder: Recorder, tmp_path: Path) -> None:
    for n in range(300):
        recorder(_event(n))
    recorder.close()  # no waiting for the writer: close alone must flush the batch
    assert [r["event"]["n"] for r in _on_disk(tmp_path / "events")] == list(range(300))
    assert len(list((tmp_path / "events").iterdir())) == 1  # one segment, not a file each
    recorder.close()  # idempotent (it also runs at exit)


def test_events_published_on_a_loop_are_recorded_in_publish_order(
    recorder: Recorder, tmp_path: Path
) -> None:
    """On a loop (relay serving) the conversion waits for the publishing step to end; the
    events of one step, and of the steps after, keep their order on disk."""

    async def serve() -> None:
        for n in range(60):
            recorder(_event(n))
            if n % 7 == 0:
                await asyncio.sleep(0)  # the conversions scheduled so far run here

    asyncio.run(serve())
    recorder.close()
    assert [r["event"]["n"] for r in _on_disk(tmp_path / "events")] == list(range(60))


def test_close_on_the_loop_before_the_conversion_ran_loses_nothing(
    recorder: Recorder, tmp_path: Path
) -> None:
    async def stop_at_once() -> None:
        for n in range(25):
            recorder(_event(n))
        recorder.close()  # relay stopping in the same step: nothing converted yet

    asyncio.run(stop_at_once())
    assert [r["event"]["n"] for r in _on_disk(tmp_path / "events")] == list(range(25))


def test_a_burst_within_one_millisecond_lists_in_publish_order(
    recorder: Recorder, tmp_path: Path
) -> None:
    # the same `at` for all: file names alone must keep the order they were published in
    for n in range(500):
        recorder(_event(n, at=1_700_000_000.123))
    recorder.close()
    records = _on_disk(tmp_path / "events")
    assert [r["request_id"] for r in records] == [f"req-{n}" for n in range(500)]
    assert {r["at"] for r in records} == {1_700_000_000.123}
    # the id is still the one `relay replay <id>` takes
    store = EventStore(tmp_path / "events")
    assert store.find(records[7]["id"])["request_id"] == "req-7"


def test_files_private_whatever_the_umask_and_a_stale_tmp_removed(tmp_path: Path) -> None:
    folder = tmp_path / "events"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)  # made by someone else, open to all: relay closes it
    # an earlier relay (one file per recording, renamed into place) crashed mid-write
    stale = folder / f"{1_700_000_000_000_000:016d}-0badc0de.json.tmp"
    stale.write_text("left by a crash")
    os.chmod(stale, 0o644)
    old = os.umask(0)
    try:
        store = EventStore(folder)
        entry = store.add({"id": "0badc0de", "at": 1_700_000_000.0, "event": {"k": "v"}})
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(entry.path.stat().st_mode) == 0o600
    assert store.load(entry)["event"] == {"k": "v"}
    assert not stale.exists()


def test_a_removed_folder_is_made_again(recorder: Recorder, tmp_path: Path) -> None:
    recorder(_event(1))
    recorder.close()
    folder = tmp_path / "events"
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    store = recorder.store
    store.add({"id": "00000002", "at": 1_700_000_001.0, "event": None})
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert [e.id for e in EventStore(folder).entries()] == ["00000002"]


def test_no_credential_reaches_the_disk(recorder: Recorder, tmp_path: Path) -> None:
    """What the stub forwards (role credentials, headers) is masked before any write."""
    event = _event(
        1,
        headers={"Authorization": f"Bearer {HEADER_TOKEN}", "X-Amz-Security-Token": SESSION_TOKEN},
        requestContext={"authorizer": {"iam": {"accessKey": "AKIAPLANTED",
                                               "secretAccessKey": ROLE_SECRET,
                                               "sessionToken": SESSION_TOKEN}}},
    )  # fmt: skip
    recorder(event)
    recorder.close()
    blob = b"".join(p.read_bytes() for p in (tmp_path / "events").iterdir())
    for secret in (ROLE_SECRET, SESSION_TOKEN, HEADER_TOKEN, "AKIAPLANTED"):
        assert secret.encode() not in blob
    (record,) = _on_disk(tmp_path / "events")
    assert record["event"]["headers"] == {"Authorization": "***", "X-Amz-Security-Token": "***"}
    assert "env" not in json.dumps(record["context"]).lower()


_CTRL_C_SCRIPT = textwrap.dedent(
    """
    import signal
    from pathlib import Path
    from relay.record.recorder import Recorder
    from relay.record.store import EventStore
    from tests.record.test_recorder import _event

    # as in a terminal, also when the suite itself was started in the background
    # (a non-interactive shell's `&` starts it with SIGINT ignored, and children inherit that)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    recorder = Recorder(EventStore(Path({folder!r})), "test", [])
    for n in range({count}):
        recorder(_event(n))
    print("queued", flush=True)
    signal.pause()  # Ctrl-C lands here; nobody calls close(): the exit must flush
    """
)


def test_ctrl_c_loses_nothing_queued(tmp_path: Path) -> None:
    folder, count = tmp_path / "events", 2000
    script = _CTRL_C_SCRIPT.format(folder=str(folder), count=count)
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "queued"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "KeyboardInterrupt" in err  # it really was interrupted, not closed
    assert [r["event"]["n"] for r in _on_disk(folder)] == list(range(count))
