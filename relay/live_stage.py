"""A live stage and its functions, whichever cloud they live in (AWS or the emulator).

``relay.cloud.go_live.go_live`` returns a ``LiveStage``; the emulator's provisioning returns
``relay.emulator.resources.Provisioned``, a ``LiveStage`` with its report (skipped types,
warnings, notes). Each relayed function is a ``LiveFunction`` with the ``FunctionConfig``
the local runtime runs it with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from relay.runtime.config import FunctionConfig


@dataclass
class LiveFunction:
    path: str  # construct path
    function_name: str  # the deployed (or emulated) function's name
    function_url: str | None
    handler: str  # the original handler
    code_dir: str  # the developer's source folder
    config: FunctionConfig  # for the local runtime (original handler and code)


@dataclass
class LiveStage:
    stage: str
    websocket_url: str
    connections_endpoint: str
    region: str
    bucket: str
    table: str
    functions: list[LiveFunction]
    not_relayed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    notes: list[str] = field(default_factory=list)  # per function, said once at start
    #: AWS: the boto3 session whose identity go-live recorded as the stage's only client (a
    #: new session of an assume-role profile would get another role session name); None
    #: locally (the emulator's well-known pair)
    session: Any = None
