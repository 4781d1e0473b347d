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
from typing import Any

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


def _private_bytecode(roots: list[str], prefix: str) -> None:
    """Cache the function's own modules (code and layer folders) apart, checked by µs mtime.

    CPython's timestamp pycs record (mtime in whole seconds, size): an edit that keeps the size
    and lands in the same second would run stale code. Modules under ``roots`` get a loader
    that compares microseconds and keeps its pycs under ``prefix`` (so the different unit never
    meets a normal interpreter's __pycache__, and relay can drop a changed file's pyc).
    Everything else (stdlib, boto3) keeps its normal, already compiled caches.
    """
    from importlib import machinery

    class WatchedSourceLoader(machinery.SourceFileLoader):
        def path_stats(self, path: str) -> dict[str, int]:
            st = os.stat(path)
            return {"mtime": st.st_mtime_ns // 1000, "size": st.st_size}

        def get_code(self, fullname: str) -> Any:
            saved = sys.pycache_prefix
            sys.pycache_prefix = prefix  # read by cache_from_source within this call only
            try:
                return super().get_code(fullname)
            finally:
                sys.pycache_prefix = saved

    loaders: list[tuple[type, list[str]]] = [
        (machinery.ExtensionFileLoader, machinery.EXTENSION_SUFFIXES),
        (WatchedSourceLoader, machinery.SOURCE_SUFFIXES),
        (machinery.SourcelessFileLoader, machinery.BYTECODE_SUFFIXES),
    ]

    def watched_finder(path: str) -> machinery.FileFinder:
        full = os.path.abspath(path or ".")
        if any(full == root or full.startswith(root + os.sep) for root in roots):
            return machinery.FileFinder(path, *loaders)
        raise ImportError("not a folder of the function's own code")

    sys.path_hooks.insert(0, watched_finder)
    sys.path_importer_cache.clear()


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
    _private_bytecode(message["watched"], message["pycache_prefix"])

    log_env = (os.environ.get("AWS_LAMBDA_LOG_FORMAT"), os.environ.get("AWS_LAMBDA_LOG_LEVEL"))
    if log_env != _IMPORT_TIME_LOG_ENV:
        bootstrap = importlib.reload(bootstrap)  # it reads the log format at import time

    if "RELAY_DEBUG" in os.environ:
        _debug_hook()
        os.environ.pop("RELAY_ROOT_FOR_DEBUG", None)

    bootstrap.run(message["handler"], LambdaRuntimeClient(os.environ["AWS_LAMBDA_RUNTIME_API"]))


if __name__ == "__main__":
    main()
