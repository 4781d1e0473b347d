"""The laptop side of the link: the asyncio driver that serves a stage's invocations."""

from relay.client.connection import EXIT_OK, EXIT_REFUSED, EXIT_REPLACED, RelayClient
from relay.client.invocations import InvocationEvent

__all__ = ["EXIT_OK", "EXIT_REFUSED", "EXIT_REPLACED", "InvocationEvent", "RelayClient"]
