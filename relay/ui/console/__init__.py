"""The local web console: a live table of invocations served by relay on loopback."""

from relay.ui.console.server import Console

__all__ = ["Console"]
