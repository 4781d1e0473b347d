"""The worker's own pieces: its line pipes, closing it without hiding a cancellation, signals."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest
from rt_helpers import fn, until

from relay.runtime import LocalRuntime
from relay.runtime.pipe import LinePipe
from relay.runtime.worker import Worker

pytestmark = pytest.mark.anyio


async def test_a_cancelled_close_stays_cancelled() -> None:
    """close() waits for the process to go; the caller's cancellation must reach the caller."""
    worker = Worker()  # no process: its exit never comes, so close() waits until cancelled
    closing = asyncio.get_running_loop().create_task(worker.close())
    await asyncio.sleep(0)
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing


async def test_line_pipe_splits_lines_across_reads_and_keeps_the_tail_only_for_output() -> None:
    out_read, out_write = os.pipe()
    rec_read, rec_write = os.pipe()
    output: list[str] = []
    records: list[str] = []
    out = LinePipe(out_read, output.extend, keep_tail=True)
    rec = LinePipe(rec_read, records.extend, keep_tail=False, max_partial=8)
    os.write(out_write, b"first\nsec")
    os.write(rec_write, b"[1]\n[2")
    out.drain()
    rec.drain()
    assert (output, records) == (["first"], ["[1]"])
    os.write(out_write, "ond é".encode()[:-1])  # é split between two reads
    out.drain()
    os.write(out_write, "é".encode()[-1:] + b"\r\nlast")
    os.write(rec_write, b"]\n" + b"x" * 20)  # an unterminated run longer than max_partial
    out.drain()
    rec.drain()
    assert output == ["first", "second é\r"]
    assert out.take_partial() == "last"
    assert records == ["[1]", "[2]"]
    os.write(out_write, b"tail without newline")
    os.write(rec_write, b"[3")
    os.close(out_write)
    os.close(rec_write)
    out.drain()  # end of file: the pipe closes itself
    rec.drain()
    assert output[-1] == "tail without newline"
    assert records == ["[1]", "[2]"]  # a torn record is not a record
    assert out.fd == rec.fd == -1


SIGNAL_APP = """\
import os
import signal

SEEN = []


def _on_usr1(signum, frame):
    SEEN.append(os.environ.get("_X_AMZN_TRACE_ID"))
    print("SIGUSR1 handled", flush=True)


signal.signal(signal.SIGUSR1, _on_usr1)


def handler(event, context):
    return {"seen": SEEN}
"""


def _pending(pid: int, signum: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    masks = [int(line.split()[1], 16) for line in status if line.startswith(("SigPnd", "ShdPnd"))]
    return any(mask & (1 << (signum - 1)) for mask in masks)


@pytest.mark.skipif(
    sys.version_info >= (3, 12) or not Path("/proc/self/status").exists(),
    reason="python3.12+ runtimes let handlers run while waiting (Lambda polls from a thread)",
)
async def test_a_signal_while_idle_is_handled_when_the_next_event_is_in(
    runtime: LocalRuntime, tmp_path: Path
) -> None:
    """As awslambdaric's native client on python3.11 and before: the function's own handler
    for a signal that comes between invocations runs once the next event has arrived, before
    that event's trace id is set."""
    (tmp_path / "app.py").write_text(SIGNAL_APP)
    runtime.configure(fn("sig", "app.handler", code=tmp_path))
    first = await runtime.invoke("sig", b"{}", trace_id="Root=1-00000000-first")
    assert json.loads(first.payload) == {"seen": []}
    (worker,) = runtime.workers("sig")
    await until(lambda: worker.ready, "the worker asking for its next event")
    os.kill(worker.pid, signal.SIGUSR1)
    await until(lambda: _pending(worker.pid, signal.SIGUSR1), "SIGUSR1 held while idle")
    second = await runtime.invoke("sig", b"{}", trace_id="Root=1-00000000-second")
    assert json.loads(second.payload) == {"seen": ["Root=1-00000000-first"]}
    assert "SIGUSR1 handled" in second.logs.splitlines()
