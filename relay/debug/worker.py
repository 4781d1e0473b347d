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

from relay.debug.options import ENV_VAR
from relay.debug.presence import PresenceWatcher

_NOTICE_AFTER = 5.0  # seconds of waiting before telling the user why the invocation waits


class InvocationGate:
    """Decides, before each invocation, whether to wait for the debugger."""

    def __init__(self, watcher: PresenceWatcher | None, *, wait_for_debugger: bool) -> None:
        self.watcher = watcher
        self.wait_for_debugger = wait_for_debugger

    @staticmethod
    def configured() -> bool:
        import debugpy

        return debugpy.is_client_connected()

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
            if self.watcher is not None:
                with self.watcher.changed:
                    # The session's configuration has no wake-up we can wait on; poll it.
                    self.watcher.changed.wait(0.02)
            else:
                time.sleep(0.02)

    def _attached(self) -> bool:
        return self.watcher is not None and self.watcher.attached


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
    install(InvocationGate(watcher, wait_for_debugger=wait_for_debugger))


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
