"""What `relay start --debug` was asked for; shared by the CLI, the runtime and the workers."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PORT = 5678
ENV_VAR = "RELAY_DEBUG"
"""Set in a worker's environment when it runs under the debugger (value: see worker_value)."""


@dataclass(frozen=True)
class DebugOptions:
    """Debug mode settings; `LocalRuntime(debug=None)` means debug mode is off."""

    port: int = DEFAULT_PORT
    host: str = "127.0.0.1"  # loopback only: a debugger can run any code in the process
    wait_for_debugger: bool = False
