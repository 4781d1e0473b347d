"""Reading a synthesized cloud assembly: its stacks (nested Stages included) and templates."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RECORD_FILE = "relay-live.json"  # = relay.cdk.live.RECORD_FILE


@dataclass(frozen=True)
class Assembly:
    """A synthesized cloud assembly on disk."""

    directory: Path
    cached: bool

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads((self.directory / "manifest.json").read_text())

    def stacks(self) -> dict[str, dict[str, Any]]:
        """Stack artifacts by artifact id (nested stages included), each with its template."""
        found: dict[str, dict[str, Any]] = {}
        _collect_stacks(self.directory, found)
        return found

    def template(self, artifact_id: str) -> dict[str, Any]:
        return self.stacks()[artifact_id]["template"]

    def live_record(self) -> dict[str, Any] | None:
        path = self.directory / RECORD_FILE
        return json.loads(path.read_text()) if path.is_file() else None


def _collect_stacks(directory: Path, found: dict[str, dict[str, Any]]) -> None:
    """Stacks of this assembly and of every nested one (a ``cdk.Stage``'s), by node path.

    Node paths (the manifest's display names) are unique across Stages; artifact ids are not
    (``Dev/Api`` and ``Prod/Api`` are both ``Api`` in their own assemblies).
    """
    manifest = json.loads((directory / "manifest.json").read_text())
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        kind = artifact.get("type")
        props = artifact.get("properties", {})
        if kind == "aws:cloudformation:stack":
            template = json.loads((directory / props["templateFile"]).read_text())
            display = artifact.get("displayName", artifact_id)
            found[display] = {
                "artifact_id": artifact_id,
                "stack_name": props.get("stackName", artifact_id),
                "environment": artifact.get("environment"),
                "template": template,
                "directory": directory,
                "display_name": display,
                "bootstrap_parameter": props.get("bootstrapStackVersionSsmParameter"),
            }
        elif kind == "cdk:cloud-assembly":
            _collect_stacks(directory / props["directoryName"], found)


def nested_template(stack: dict[str, Any], logical_ids: list[str]) -> dict[str, Any] | None:
    """The template of a NestedStack: follow ``AWS::CloudFormation::Stack`` resources down."""
    template: dict[str, Any] | None = stack["template"]
    for logical in logical_ids:
        resource = (template or {}).get("Resources", {}).get(logical) or {}
        path = (resource.get("Metadata") or {}).get("aws:asset:path")
        if not path:
            return None
        template = json.loads((Path(stack["directory"]) / path).read_text())
    return template
