"""Entry point of a worker process: AWS's awslambdaric, pre-imported, waiting for a function.

Run as a script (``python -S worker_entry.py``) so that importing it costs nothing of relay.
The parent starts it with ``AWS_LAMBDA_RUNTIME_API`` already set (awslambdaric's native client
reads it at import time), then writes one length-prefixed JSON message on stdin: the function's
environment, sys.path, working directory, bytecode cache folder and handler. Secrets travel only
through that pipe, never through argv or files.

A second pipe (fd ``RELAY_LOADED_FD``) goes the other way: one JSON line per source file of the
function's own code and layers that this process loads, ``[path, mtime_ns, size, ino,
ctime_ns]``, stat'ed just before the file is read. relay compares these with the disk before
it hands this worker an invocation (relay/runtime/freshness.py reads them).
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


class LoadedFiles:
    """Tells relay which of the function's files this process has read, as it reads them."""

    def __init__(self, fd: int, roots: list[str]) -> None:
        self.fd = fd
        self.roots = roots
        self.sent: set[str] = set()
        self._modules = 0
        if fd >= 0:
            os.set_inheritable(fd, False)  # the handler's own subprocesses never get it

    def under_roots(self, path: str) -> bool:
        return any(path.startswith(root + os.sep) for root in self.roots)

    def report(self, path: str, st: os.stat_result) -> None:
        if self.fd < 0:
            return
        self.sent.add(path)
        line = json.dumps([path, st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns])
        try:
            os.write(self.fd, line.encode() + b"\n")
        except OSError:  # relay is gone or closed its end: nothing left to tell
            os.close(self.fd)
            self.fd = -1

    def report_other_modules(self) -> None:
        """Modules that did not come through the source loader (extensions, bare .pyc)."""
        if self.fd < 0 or len(sys.modules) == self._modules:
            return
        self._modules = len(sys.modules)
        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None)
            if isinstance(path, str) and path not in self.sent and self.under_roots(path):
                try:
                    self.report(path, os.stat(path))
                except OSError:
                    self.sent.add(path)


def polls_from_a_thread(environ: dict[str, str] | os._Environ[str]) -> bool:
    """awslambdaric's own choice for this runtime (``AWS_EXECUTION_ENV``): from python3.12 on,
    Lambda waits for the next event in a thread, so the function's signal handlers (a SIGTERM
    at shutdown) run while it is idle; before, they run once the next event is in."""
    try:
        from awslambdaric.lambda_config import LambdaConfigProvider
    except ImportError:  # an older awslambdaric, which never polled from a thread
        return False
    threaded = getattr(LambdaConfigProvider, "SUPPORTED_THREADPOLLING_ENVS", ())
    return environ.get("AWS_EXECUTION_ENV") in threaded


def _reporting_client(loaded: LoadedFiles) -> type[LambdaRuntimeClient]:
    class ReportingClient(LambdaRuntimeClient):  # type: ignore[misc]
        def wait_next_invocation(self) -> Any:
            loaded.report_other_modules()  # init (or the last invocation) is over
            return super().wait_next_invocation()

    return ReportingClient


def _private_bytecode(roots: list[str], prefix: str, loaded: LoadedFiles) -> None:
    """Cache the function's own modules (code and layer folders) apart, checked by µs mtime.

    CPython's timestamp pycs record (mtime in whole seconds, size): an edit that keeps the size
    and lands in the same second would run stale code. Modules under ``roots`` get a loader
    that compares microseconds and keeps its pycs under ``prefix`` (so the different unit never
    meets a normal interpreter's __pycache__, and relay can drop a changed file's pyc).
    Everything else (stdlib, boto3) keeps its normal, already compiled caches.
    The loader stats a source before it reads it (or its pyc): that stat is what ``loaded``
    reports, so a save after it always shows as a difference.
    """
    from importlib import machinery

    class WatchedSourceLoader(machinery.SourceFileLoader):
        def path_stats(self, path: str) -> dict[str, int]:
            st = os.stat(path)
            loaded.report(os.path.abspath(path), st)
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
        from relay.debug.worker import before_run
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
    loaded_fd = int(os.environ.get("RELAY_LOADED_FD") or -1)
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
    loaded = LoadedFiles(loaded_fd, message["watched"])
    _private_bytecode(message["watched"], message["pycache_prefix"], loaded)

    log_env = (os.environ.get("AWS_LAMBDA_LOG_FORMAT"), os.environ.get("AWS_LAMBDA_LOG_LEVEL"))
    if log_env != _IMPORT_TIME_LOG_ENV:
        bootstrap = importlib.reload(bootstrap)  # it reads the log format at import time

    if "RELAY_DEBUG" in os.environ:
        _debug_hook()
        os.environ.pop("RELAY_ROOT_FOR_DEBUG", None)

    client = _reporting_client(loaded)(
        os.environ["AWS_LAMBDA_RUNTIME_API"], polls_from_a_thread(os.environ)
    )
    bootstrap.run(message["handler"], client)


if __name__ == "__main__":
    main()
