"""CloudFormation template evaluation, pure: no emulator, no sockets, no files.

What a stack's resources will be called (``names``), and what its intrinsic functions
evaluate to once those names are known (``intrinsics``). Resource creation lives in
``relay.emulator.resources``; the orchestration (synthesize, then create) in
``relay.emulator.provision``.
"""

from relay.emulator.cfn.intrinsics import Resolver, Unresolvable, collect_exports
from relay.emulator.cfn.names import name_resources
from relay.emulator.cfn.stack import Stack

__all__ = ["Resolver", "Stack", "Unresolvable", "collect_exports", "name_resources"]
