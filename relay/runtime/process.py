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
    status_fd: int  # /proc/PID/status, kept open for max_rss_mb (-1 where there is none)


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
    status_fd = -1
    with contextlib.suppress(OSError):
        status_fd = os.open(f"/proc/{proc.pid}/status", os.O_RDONLY)
    return WorkerProcess(proc, read_fd, loaded_read, status_fd)


def max_rss_mb(status_fd: int) -> int | None:
    """Peak resident memory of the process, the figure Lambda reports as Max Memory Used.

    ``status_fd`` is the worker's /proc/PID/status, kept open: a pread from 0 renders it anew.
    """
    try:
        status = os.pread(status_fd, 4096, 0)
        start = status.index(b"VmHWM:") + 6
        return -(-int(status[start : status.index(b"kB", start)]) // 1024)
    except (OSError, ValueError):
        return None


def kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the worker and anything it started (it leads its own session)."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
