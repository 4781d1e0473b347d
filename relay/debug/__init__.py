"""Debugging relay's workers with debugpy (``relay start --debug``), and VS Code set-up.

Nothing here is imported unless debug mode is on, so debug mode costs nothing when off.
"""

from relay.debug.options import DebugOptions

__all__ = ["DebugOptions"]
