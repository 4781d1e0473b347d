"""The worker's own pieces: its line pipes, its peak memory, closing it without hiding a
cancellation, and signals while it waits (as awslambdaric waits on Lambda)."""

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
from relay.runtime.process import PeakMemory
from relay.runtime.worker import Worker
from relay.runtime.worker_entry import polls_from_a_thread

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


def test_peak_memory_follows_the_peak_through_a_freed_block() -> None:
    """The fault counts gate the status read: a block touched and freed again (RSS back down)
    still raises the figure; nothing touched since, the figure stays."""
    memory = PeakMemory(os.getpid())
    try:
        assert memory.mb() == _hwm_mb(os.getpid())
        resident = _status_mb(os.getpid(), "VmRSS")
        block = bytearray(64 * 1024 * 1024)
        block[::4096] = b"x" * len(block[::4096])  # touch every page
        del block
        after = memory.mb()
        assert after is not None and after >= resident + 63
        assert memory.mb() == after == _hwm_mb(os.getpid())
    finally:
        memory.close()
    assert memory.mb() is None  # closed


def _hwm_mb(pid: int) -> int:
    return _status_mb(pid, "VmHWM")


def _status_mb(pid: int, field: str) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return -(-int(status.split(f"{field}:")[1].split()[0]) // 1024)


@pytest.mark.parametrize(
    ("execution_env", "threaded"),
    [
        ("AWS_Lambda_python3.11", False),
        ("AWS_Lambda_python3.12", True),
        ("AWS_Lambda_python3.13", True),
        (None, False),
    ],
)
def test_the_worker_polls_from_a_thread_where_awslambdaric_itself_does(
    execution_env: str | None, threaded: bool
) -> None:
    """relay builds awslambdaric's client itself, so it must make awslambdaric's own choice
    (its __main__ reads AWS_EXECUTION_ENV): the idle-signal behaviour differs by runtime."""
    environ = {} if execution_env is None else {"AWS_EXECUTION_ENV": execution_env}
    assert polls_from_a_thread(environ) is threaded


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
    reason="python3.12+ runtimes run signal handlers while idle (awslambdaric polls from a thread)",
)
async def test_a_signal_while_idle_is_handled_when_the_next_event_is_in(tmp_path: Path) -> None:
    """As on Lambda's python3.11 and earlier (awslambdaric's native client waits in libcurl,
    which retries on EINTR): the function's handler for a signal that comes between
    invocations runs once the next event has arrived, before that event's trace id is set,
    and its output is part of that invocation's logs."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(SIGNAL_APP)
    async with LocalRuntime(spares=0, pycache_dir=tmp_path / "pyc") as runtime:
        runtime.configure(fn("sig", "app.handler", code=code))
        first = await runtime.invoke("sig", b"{}", trace_id="Root=1-00000000-first")
        assert json.loads(first.payload) == {"seen": []}
        (worker,) = runtime.workers("sig")
        os.kill(worker.pid, signal.SIGUSR1)  # pending from here until the kernel delivers it
        await until(lambda: not _pending(worker.pid, signal.SIGUSR1), "SIGUSR1 delivered")
        second = await runtime.invoke("sig", b"{}", trace_id="Root=1-00000000-second")
        assert json.loads(second.payload) == {"seen": ["Root=1-00000000-first"]}
        assert "SIGUSR1 handled" in second.logs.splitlines()
        assert runtime.workers("sig") == [worker]  # the same process: the signal killed nothing
