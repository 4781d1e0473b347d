"""relay's local Lambda execution environments (see docs/architecture.md, "Local runtime")."""

from relay.runtime.config import FunctionConfig
from relay.runtime.runtime import FunctionNotFound, LocalRuntime
from relay.runtime.worker import InvocationResult

__all__ = ["FunctionConfig", "FunctionNotFound", "InvocationResult", "LocalRuntime"]
