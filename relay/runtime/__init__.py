"""relay's local Lambda execution environments (see docs/architecture.md, "Local runtime")."""

from relay.runtime.config import FunctionConfig
from relay.runtime.invocation import InvocationResult
from relay.runtime.runtime import FunctionNotFound, LocalRuntime

__all__ = ["FunctionConfig", "FunctionNotFound", "InvocationResult", "LocalRuntime"]
