"""The worker's own pieces: its line pipes, and closing it without hiding a cancellation."""

from __future__ import annotations

import asyncio
import os

import pytest

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
