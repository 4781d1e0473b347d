"""The embedded AWS emulator behind `relay start --local` and `relay emulator`.

See docs/architecture.md ("Emulator") for the API and `relay.emulator.emulator` for why it
is built the way it is.
"""

from relay.emulator.credentials import LOCAL_CREDENTIALS, Credentials
from relay.emulator.emulator import Emulator
from relay.emulator.functions import FunctionInfo
from relay.emulator.gateway import Route, WebSocketApi

__all__ = [
    "LOCAL_CREDENTIALS",
    "Credentials",
    "Emulator",
    "FunctionInfo",
    "Route",
    "WebSocketApi",
]
