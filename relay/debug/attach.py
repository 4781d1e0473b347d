"""`relay start --debug`: debugpy in relay's main process, following every worker it spawns.

relay's workers are sub-processes started from `sys.executable`; with `subProcess: true`
debugpy injects itself into each of them and announces it to an attached client (VS Code's
"Attach to relay"), so one attach covers every worker, including those a hot reload starts.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass
from typing import Any

from relay.debug.options import ENV_VAR, DebugOptions
from relay.debug.presence import PresenceServer


class DebugStartError(RuntimeError):
    """debugpy could not listen; the message says what to do instead."""


@dataclass
class DebugSession:
    """The running debug listener of this process (there is at most one)."""

    options: DebugOptions
    address: tuple[str, int] | None  # None when relay itself was launched under debugpy
    presence: PresenceServer

    def client_attached(self) -> bool:
        """True while a debugger is attached and has finished configuring (breakpoints set)."""
        return self.presence.attached.is_set()

    def wait_for_client(self, timeout: float | None = None) -> bool:
        return self.presence.attached.wait(timeout)

    def worker_value(self) -> str:
        """Value of RELAY_DEBUG for a worker: where to learn the attach state, and the mode."""
        host, port = self.presence.address
        return f"{host}:{port}" + (";wait" if self.options.wait_for_debugger else "")


_session: DebugSession | None = None
_lock = threading.Lock()


def enable(options: DebugOptions) -> DebugSession:
    """Start debugpy on options.host:port, before any worker is spawned.

    Idempotent for the same options (the CLI and the runtime may both call it). Sets
    RELAY_DEBUG in this process's environment to `worker_value()` so a runtime that copies it
    into a worker's environment gives the worker the live attach state.
    """
    global _session
    with _lock:
        if _session is not None:
            if _session.options != options:
                raise DebugStartError(
                    f"debug mode is already on in this process with {_session.options}; "
                    f"it cannot change to {options}"
                )
            return _session
        if options.host not in ("127.0.0.1", "localhost", "::1"):
            raise DebugStartError(
                f"refusing to listen for a debugger on {options.host}: a debugger runs any "
                "code it is sent, so relay listens on loopback (127.0.0.1) only"
            )
        # pydevd warns on every start (here and in each worker, so in the function's logs)
        # that frozen stdlib modules may miss breakpoints; user code is never frozen.
        os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        import debugpy

        # Under "Debug relay start" debugpy is already here with its client, following
        # sub-processes; a second listener would only confuse it.
        address = None if _under_debugger() else _listen(debugpy, options)
        presence = PresenceServer(debugpy.is_client_connected, debugpy.wait_for_client)
        _session = DebugSession(options=options, address=address, presence=presence)
        os.environ[ENV_VAR] = _session.worker_value()
        return _session


def _under_debugger() -> bool:
    pydevd = sys.modules.get("pydevd")
    return pydevd is not None and pydevd.get_global_debugger() is not None


def _listen(debugpy: Any, options: DebugOptions) -> tuple[str, int]:
    debugpy.configure(subProcess=True)
    try:
        host, port = debugpy.listen((options.host, options.port))
    except RuntimeError as exc:
        raise DebugStartError(
            f"cannot listen for a debugger on {options.host}:{options.port} ({exc}); "
            "is another `relay start --debug` or debug session using it? "
            "Pass --debug-port with a free port and attach to that one."
        ) from exc
    # relay's own event loop is not what the user debugs; untraced, it stays fast.
    debugpy.trace_this_thread(False)
    return host, port


def current() -> DebugSession | None:
    """The session started by enable() in this process, if any."""
    return _session


def announce(session: DebugSession) -> None:
    """One line on stderr telling the user where to attach."""
    if session.address is None:
        print(
            "relay: running under the debugger that launched relay; workers are followed "
            "as sub-processes.",
            file=sys.stderr,
            flush=True,
        )
        return
    host, port = session.address
    held = (
        " Invocations wait until a debugger is attached (--wait-for-debugger)."
        if session.options.wait_for_debugger
        else ""
    )
    print(
        f"relay: debugger listening on {host}:{port}; attach with VS Code's "
        f'"Attach to relay" (port {port}).{held}',
        file=sys.stderr,
        flush=True,
    )
