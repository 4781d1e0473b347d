"""`.relay/stages/<stage>/session.json`: the contract other tools (tests, editors) read.

Written atomically (temp file + rename) so a reader never sees half a file. It holds
endpoints and names only — never credentials or environment values.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class SessionFunction:
    path: str
    function_name: str
    function_url: str | None
    handler: str
    code_dir: str


@dataclass
class Session:
    stage: str
    mode: str  # "local" or "aws"
    websocket_url: str
    connections_endpoint: str
    region: str
    connection_id: str | None = None
    lambda_endpoint: str | None = None
    functions: list[SessionFunction] = field(default_factory=list)
    # `relay start --local` in direct mode: no WebSocket client, so no connection_id
    direct: bool = False
    #: local mode: the emulator's endpoint for every other AWS service (local credentials)
    endpoint_url: str | None = None
    #: API Gateway front doors: {"path": construct path, "type": "REST"|"HTTP", "url": ".../"}
    apis: list[dict[str, str]] = field(default_factory=list)
    #: {stack name: {"outputs": {...}, "resources": {logical id: physical id}}}
    stacks: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Session:
        functions = [SessionFunction(**f) for f in data.get("functions", [])]
        return cls(**{**data, "functions": functions})

    def find(self, name: str) -> SessionFunction | None:
        """Match a function by name, construct path, or the last part of its path."""
        for fn in self.functions:
            if name in (fn.function_name, fn.path) or fn.path.rsplit("/", 1)[-1] == name:
                return fn
        return None


def stage_dir(project: Path, stage: str) -> Path:
    return project / ".relay" / "stages" / stage


def session_path(project: Path, stage: str) -> Path:
    return stage_dir(project, stage) / "session.json"


def private_dir(path: Path) -> Path:
    """Create ``path`` so that only this user can enter it, from ``.relay`` down.

    ``.relay/`` holds logs (a handler's prints), sessions, and synthesized templates with the
    functions' environments: other users of the machine must not read them.
    """
    path = Path(path)
    parts = path.parts
    top = parts.index(".relay") if ".relay" in parts else len(parts) - 1
    current = Path(*parts[:top])
    current.mkdir(parents=True, exist_ok=True)
    for part in parts[top:]:
        current = current / part
        current.mkdir(mode=0o700, exist_ok=True)
        if current.stat().st_mode & 0o077:
            current.chmod(0o700)  # made by an older relay, or under a lax umask
    return path


def open_private(path: Path) -> int:
    """A file descriptor of ``path`` truncated for writing, readable by this user only."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode otherwise
    return fd


def write_json_atomic(path: Path, data: Any) -> None:
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def mode_path(project: Path, stage: str) -> Path:
    """The stage's last mode ("local" or "aws"): it outlives the session file, which a local
    stage removes when it stops, so that commands can name the right `relay start`."""
    return stage_dir(project, stage) / "mode"


def save(project: Path, session: Session) -> Path:
    path = session_path(project, session.stage)
    write_json_atomic(path, session.to_json())
    mode = mode_path(project, session.stage)
    if not mode.is_file() or mode.read_text().strip() != session.mode:
        mode.write_text(session.mode + "\n")
    return path


def start_command_for(project: Path, stage: str) -> str:
    """The `relay start` that brings this stage up the way it last ran (AWS by default)."""
    try:
        local = mode_path(project, stage).read_text().strip() == "local"
    except OSError:
        local = False
    return f"relay start {'--local ' if local else ''}--stage {stage}"


def load(project: Path, stage: str) -> Session:
    """Read the live session of a stage; the error says how to start one."""
    path = session_path(project, stage)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise SessionError(
            f"stage '{stage}' is not live here: nothing serves it (no {path}). "
            f"Start it with: {start_command_for(project, stage)}"
        ) from None
    except json.JSONDecodeError as exc:
        raise SessionError(
            f"{path} is not valid JSON ({exc}). Restart with: {start_command_for(project, stage)}"
        ) from None
    return Session.from_json(data)


class SessionError(Exception):
    """The stage has no usable session file."""
