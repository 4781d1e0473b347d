"""Entry point of a worker process: AWS's awslambdaric, pre-imported, waiting for a function.

Run as a script (``python -S worker_entry.py``) so that importing it costs nothing of relay.
The parent starts it with ``AWS_LAMBDA_RUNTIME_API`` already set (awslambdaric's native client
reads it at import time), then writes one length-prefixed JSON message on stdin: the function's
environment, sys.path, working directory, bytecode cache folder and handler. Secrets travel only
through that pipe, never through argv or files.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

# The heavy part of a cold start, done before any function is known.
from awslambdaric import bootstrap
from awslambdaric.lambda_runtime_client import LambdaRuntimeClient

_IMPORT_TIME_LOG_ENV = (
    os.environ.get("AWS_LAMBDA_LOG_FORMAT"),
    os.environ.get("AWS_LAMBDA_LOG_LEVEL"),
)


def _read_exactly(fd: int, size: int) -> bytes:
    chunks = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            raise SystemExit(0)  # the parent went away before giving us a function
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _fine_grained_bytecode_checks() -> None:
    """Validate cached bytecode against the source's microsecond mtime, not whole seconds.

    CPython's timestamp pycs record (mtime in seconds, size); an edit that keeps the size and
    lands in the same second would otherwise run stale code. Our pycs live in a private
    pycache prefix, so their different mtime unit never meets a normal interpreter's.
    """
    from importlib import machinery

    def path_stats(self: machinery.SourceFileLoader, path: str) -> dict[str, int]:
        st = os.stat(path)
        return {"mtime": st.st_mtime_ns // 1000, "size": st.st_size}

    machinery.SourceFileLoader.path_stats = path_stats  # type: ignore[method-assign]


def _debug_hook() -> None:
    """Let relay's debugger attach before the handler's module is imported."""
    relay_root = os.environ.get("RELAY_ROOT_FOR_DEBUG")
    if relay_root:
        sys.path.append(relay_root)
    try:
        from relay.debug.worker import before_run  # type: ignore[import-not-found]
    except ImportError:
        return
    finally:
        if relay_root and relay_root in sys.path:
            sys.path.remove(relay_root)
    before_run()


def _warm_up() -> None:
    """One round trip before any function is known: the runtime client's first request costs
    milliseconds (connection, first use), and its arrival tells the parent this spare is ready.
    """
    import runtime_client  # awslambdaric's native client, initialised by the import above

    runtime_client.next()


def _die_with_parent() -> None:
    """A worker must not outlive relay (even a killed one): ask Linux for SIGKILL then."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # relay died before we asked
        os._exit(1)


def main() -> None:
    global bootstrap
    _die_with_parent()
    _warm_up()
    size = int.from_bytes(_read_exactly(0, 4), "big")
    message = json.loads(_read_exactly(0, size))
    os.close(0)
    os.open(os.devnull, os.O_RDONLY)  # fd 0 again, as Lambda's stdin is not a pipe to us

    relay_root = os.environ.get("RELAY_ROOT")
    os.environ.clear()
    os.environ.update(message["env"])
    if "RELAY_DEBUG" in os.environ and relay_root:
        os.environ["RELAY_ROOT_FOR_DEBUG"] = relay_root
    sys.path[:] = message["sys_path"]
    os.chdir(message["cwd"])
    sys.pycache_prefix = message["pycache_prefix"]
    _fine_grained_bytecode_checks()
    importlib.invalidate_caches()

    log_env = (os.environ.get("AWS_LAMBDA_LOG_FORMAT"), os.environ.get("AWS_LAMBDA_LOG_LEVEL"))
    if log_env != _IMPORT_TIME_LOG_ENV:
        bootstrap = importlib.reload(bootstrap)  # it reads the log format at import time

    if "RELAY_DEBUG" in os.environ:
        _debug_hook()
        os.environ.pop("RELAY_ROOT_FOR_DEBUG", None)

    bootstrap.run(message["handler"], LambdaRuntimeClient(os.environ["AWS_LAMBDA_RUNTIME_API"]))


if __name__ == "__main__":
    main()
