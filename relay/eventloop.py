"""The event loop relay's long-running commands serve on: uvloop where it is installed.

Why: in direct mode every invocation crosses relay's one event-loop thread several times (the
caller's request and answer, the worker's GET /next and POST response and their answers);
uvloop's loop and transports are C where asyncio's are Python. Measured beside asyncio in the
same runs (8 callers, function URL): -13 %, -12 %, +1 % CPU in relay's serving thread
(bench/bench_scaling.py, RELAY_EVENT_LOOP=asyncio for the other side). Plain asyncio remains
the fallback (a platform without uvloop wheels, or ``RELAY_EVENT_LOOP=asyncio`` to rule the
loop out when chasing a bug), and the loop under a debugger: debugpy follows child processes
(the handlers' workers) by patching Python's own process creation, which uvloop bypasses
(libuv spawns them), so breakpoints in handlers would never be hit.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

#: ``RELAY_EVENT_LOOP=asyncio`` forces the standard loop; anything else prefers uvloop.
ENV = "RELAY_EVENT_LOOP"


def loop_factory(*, debugging: bool = False) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop constructor, or None for asyncio's default.

    ``debugging``: debugpy will follow the workers (``relay start --debug``); a process that
    already runs under debugpy (VS Code's "Debug relay start") is recognised by itself.
    """
    if os.environ.get(ENV, "").strip().lower() == "asyncio":
        return None
    if debugging or "pydevd" in sys.modules:
        return None
    try:
        import uvloop
    except ImportError:  # not installed, or no wheel for this platform
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A loop for a thread of its own (the emulator's, started synchronously)."""
    factory = loop_factory()
    return factory() if factory is not None else asyncio.new_event_loop()


def run(main: Coroutine[Any, Any, T], *, debugging: bool = False) -> T:
    """``asyncio.run`` on relay's loop (see `loop_factory` for ``debugging``)."""
    with asyncio.Runner(loop_factory=loop_factory(debugging=debugging)) as runner:
        return runner.run(main)


def name() -> str:
    """Which loop ``run`` uses (for diagnostics)."""
    factory = loop_factory()
    return "asyncio" if factory is None else "uvloop"
