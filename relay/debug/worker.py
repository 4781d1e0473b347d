"""Worker-side hook: no invocation runs before this worker's debug session is configured.

Called by the worker entry (relay/runtime/worker_entry.py) right before awslambdaric's
bootstrap.run, only when RELAY_DEBUG is set. debugpy already holds a worker that starts while a
client is attached; this hook covers workers that were running before the client attached, and
`--wait-for-debugger`, by gating each invocation after awslambdaric receives it and before the
handler runs. With no client attached (and no --wait-for-debugger) invocations never wait.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from relay.debug.options import ENV_VAR
from relay.debug.presence import PresenceWatcher

_NOTICE_AFTER = 5.0  # seconds of waiting before telling the user why the invocation waits
_ADAPTER_SESSION_LIMIT = 10.0  # seconds to wait out the adapter's own session (see settle)


def _debugpy_configured() -> bool:
    import debugpy

    return debugpy.is_client_connected()


class InvocationGate:
    """Decides, before each invocation, whether to wait for the debugger."""

    def __init__(
        self,
        watcher: PresenceWatcher | None,
        *,
        wait_for_debugger: bool,
        configured: Callable[[], bool] = _debugpy_configured,
    ) -> None:
        self.watcher = watcher
        self.wait_for_debugger = wait_for_debugger
        #: True once a client has configured this worker's session (breakpoints are set)
        self.configured = configured

    def settle(self, limit: float = _ADAPTER_SESSION_LIMIT) -> None:
        """Wait out the session debugpy's adapter opens by itself with this worker.

        A worker that connects while no debugger is attached to relay is released by the
        adapter itself (initialize, attach, configurationDone, then disconnect), and until the
        worker has processed that disconnect debugpy reports a configured client. Trusted, it
        let a held invocation (--wait-for-debugger) run past the breakpoints of the debugger
        that attached next. No client can have configured us while none is attached to relay,
        so until one is, a configured session is the adapter's and is waited out.
        """
        deadline = time.monotonic() + limit
        while self.configured() and not self._attached():
            if time.monotonic() > deadline:
                print(
                    f"relay: worker {os.getpid()}: debugpy still reports a configured session "
                    "although no debugger is attached to relay; breakpoints may be missed",
                    file=sys.stderr,
                    flush=True,
                )
                return
            self._pause()

    def _client_expected(self) -> bool:
        return self.wait_for_debugger or (self.watcher is not None and self.watcher.attached)

    def wait(self) -> None:
        """Return at once unless a client is (or must be) attached and has not configured us."""
        if self.configured() or not self._client_expected():
            return
        started = time.monotonic()
        noticed = False
        while not self.configured() and self._client_expected():
            if not noticed and time.monotonic() - started > _NOTICE_AFTER:
                noticed = True
                reason = (
                    "--wait-for-debugger: attach a debugger to relay"
                    if self.wait_for_debugger and not self._attached()
                    else "the debugger has not configured this worker's session yet; "
                    'does it follow sub-processes ("subProcess": true)?'
                )
                print(
                    f"relay: worker {os.getpid()} holds the invocation: {reason}",
                    file=sys.stderr,
                    flush=True,
                )
            self._pause()

    def _attached(self) -> bool:
        return self.watcher is not None and self.watcher.attached

    def _pause(self) -> None:
        if self.watcher is not None:
            with self.watcher.changed:
                # The session's configuration has no wake-up we can wait on; poll it.
                self.watcher.changed.wait(0.02)
        else:
            time.sleep(0.02)


def parse(value: str) -> tuple[tuple[str, int] | None, bool]:
    """RELAY_DEBUG value -> (presence address or None, wait_for_debugger)."""
    address_text, _, mode = value.partition(";")
    host, sep, port = address_text.rpartition(":")
    address = (host, int(port)) if sep and port.isdigit() else None
    return address, mode == "wait"


def before_run() -> None:
    """Install the invocation gate if this worker runs under debugpy; otherwise do nothing."""
    value = os.environ.get(ENV_VAR)
    if not value:
        return
    if "debugpy" not in sys.modules:
        print(
            "relay: RELAY_DEBUG is set but this worker is not running under debugpy; "
            "breakpoints will not be hit (was it started from sys.executable with "
            "debugpy's subProcess on?)",
            file=sys.stderr,
            flush=True,
        )
        return
    address, wait_for_debugger = parse(value)
    watcher = None
    if address is not None:
        try:
            watcher = PresenceWatcher(address)
        except OSError as exc:
            print(
                f"relay: cannot learn whether a debugger is attached ({exc}); "
                "invocations will not wait for it",
                file=sys.stderr,
                flush=True,
            )
    gate = InvocationGate(watcher, wait_for_debugger=wait_for_debugger)
    gate.settle()
    install(gate)


def install(gate: InvocationGate) -> None:
    """Run `gate.wait()` after awslambdaric receives each invocation, before the handler.

    awslambdaric's loop (bootstrap.run) has no per-invocation hook, so its client's
    wait_next_invocation is wrapped; the wait happens after the event arrives, which is the
    moment that matters, since the debugger may attach while the worker waits for work.
    """
    from awslambdaric.lambda_runtime_client import LambdaRuntimeClient

    original = LambdaRuntimeClient.wait_next_invocation

    def wait_next_invocation(self: LambdaRuntimeClient) -> object:
        request = original(self)
        gate.wait()
        return request

    LambdaRuntimeClient.wait_next_invocation = wait_next_invocation  # type: ignore[method-assign]
