"""Starting a worker process and the operating-system side of it: its pipes, memory, end.

The process runs ``worker_entry.py`` under ``python -S`` with a clean environment: its
output (stdout and stderr on one pipe), a second pipe for the files it loads, and the
Runtime API address it talks to.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from relay.package_dirs import RELAY_ROOT
from relay.runtime.config import runtime_paths

ENTRY = str(Path(__file__).with_name("worker_entry.py"))
#: Variables of relay's own environment a worker inherits (the rest is Lambda's, set later).
#: PYDEVD_DISABLE_FILE_VALIDATION: set by relay.debug.attach in debug mode only.
_PASSED = ("PATH", "LANG", "LC_ALL", "TMPDIR", "PYDEVD_DISABLE_FILE_VALIDATION")


@dataclass
class WorkerProcess:
    process: asyncio.subprocess.Process
    output_fd: int  # read end: what the worker prints (stdout and stderr)
    loaded_fd: int  # read end: one line per file of the function it loads
    memory: PeakMemory  # its Max Memory Used


async def start_process(
    port: int,
    extra_env: Mapping[str, str] | None = None,
    *,
    python: str | None = None,
    site_paths: list[str] | None = None,
) -> WorkerProcess:
    """Start ``worker_entry.py``, pointed at the Runtime API on ``port``.

    ``python`` and ``site_paths``: a function's own environment (relay's by default).
    """
    read_fd, write_fd = os.pipe()
    loaded_read, loaded_write = os.pipe()
    env = {k: v for k, v in os.environ.items() if k in _PASSED}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(site_paths or runtime_paths()),
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
            "RELAY_ROOT": str(RELAY_ROOT),
            "RELAY_LOADED_FD": str(loaded_write),
        }
    )
    env.update(extra_env or {})
    try:
        proc = await asyncio.create_subprocess_exec(
            python or sys.executable,
            "-S",
            ENTRY,
            stdin=asyncio.subprocess.PIPE,
            stdout=write_fd,
            stderr=write_fd,
            env=env,
            start_new_session=True,
            pass_fds=(loaded_write,),
        )
    except BaseException:
        for fd in (read_fd, loaded_read):
            os.close(fd)
        raise
    finally:
        os.close(write_fd)
        os.close(loaded_write)
    return WorkerProcess(proc, read_fd, loaded_read, PeakMemory(proc.pid))


class PeakMemory:
    """Peak resident memory of a process (VmHWM), the figure Lambda reports as Max Memory Used.

    Read after every invocation, so cheaply: /proc/PID/status, the only place with the peak,
    costs 2-3 times /proc/PID/stat to render. The peak can only have risen if the process
    faulted pages in, so the status is read again only when its fault counts (in stat) moved.
    Both files are kept open: a pread from 0 renders them anew. ``mb()`` is None where there
    is no /proc.
    """

    def __init__(self, pid: int) -> None:
        self._status = self._stat = -1
        self._faults = -1
        self._mb: int | None = None
        with contextlib.suppress(OSError):
            self._status = os.open(f"/proc/{pid}/status", os.O_RDONLY)
            self._stat = os.open(f"/proc/{pid}/stat", os.O_RDONLY)

    def mb(self) -> int | None:
        if self._status < 0:
            return None
        try:
            if self._stat >= 0:
                # after the command's ")": state, ppid, …, [7] minflt, [8] cminflt, [9] majflt
                fields = os.pread(self._stat, 1024, 0).rsplit(b")", 1)[1].split(None, 10)
                faults = int(fields[7]) + int(fields[9])
                if faults == self._faults:
                    return self._mb
                self._faults = faults
            status = os.pread(self._status, 4096, 0)
            start = status.index(b"VmHWM:") + 6
            self._mb = -(-int(status[start : status.index(b"kB", start)]) // 1024)
        except (OSError, ValueError, IndexError):
            return None
        return self._mb

    def close(self) -> None:
        for fd in (self._status, self._stat):
            if fd >= 0:
                os.close(fd)
        self._status = self._stat = -1


def kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the worker and anything it started (it leads its own session)."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
