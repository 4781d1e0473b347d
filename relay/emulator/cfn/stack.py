"""One stack of a cloud assembly, with the names and attributes evaluation has found."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Stack:
    artifact_id: str
    name: str
    template: dict[str, Any]
    directory: Path  # the assembly folder its asset paths are relative to
    #: ``{"Ref": logical id}`` -> value
    refs: dict[str, str] = field(default_factory=dict)
    #: ``{"Fn::GetAtt": [logical id, attribute]}`` -> value
    attrs: dict[tuple[str, str], str] = field(default_factory=dict)
