"""The worker's own pieces: its line pipes, its peak memory, closing it without hiding a
cancellation."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from relay.runtime.pipe import LinePipe
from relay.runtime.process import PeakMemory
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
