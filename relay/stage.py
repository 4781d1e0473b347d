"""Stage resolution, in one place: every command that needs a stage asks here."""

from __future__ import annotations

import getpass
import os
import re
import sys
from pathlib import Path

from relay.session import private_dir

STAGE_FILE = Path(".relay") / "stage"
_VALID = re.compile(r"^[a-z][a-z0-9-]{0,23}$")


class StageError(Exception):
    """No usable stage; the message says what to pass."""


def validate(stage: str) -> str:
    """Stage names end up in stack and resource names, so keep them short and DNS-safe."""
    if not _VALID.match(stage):
        raise StageError(
            f"'{stage}' is not a valid stage name: use 1-24 lower-case letters, digits or "
            "hyphens, starting with a letter (for example: --stage alice)."
        )
    return stage


def default_name() -> str:
    """The OS user name, folded into a valid stage name."""
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = "dev"
    folded = re.sub(r"[^a-z0-9-]", "-", user.lower()).strip("-") or "dev"
    if not folded[0].isalpha():
        folded = "u" + folded
    return folded[:24]


def _interactive() -> bool:
    return sys.stdin.isatty() and not os.environ.get("CI")


def resolve(explicit: str | None, project_dir: Path, *, prompt=input) -> str:
    """`--stage` wins; else `.relay/stage`; else ask once on a terminal; else fail clearly."""
    if explicit:
        return validate(explicit)
    stored = project_dir / STAGE_FILE
    if stored.is_file():
        name = stored.read_text().strip()
        if name:
            return validate(name)
    if not _interactive():
        raise StageError(
            "no stage given and none stored in .relay/stage. Pass one with --stage NAME "
            "(CI and scripts must always pass --stage)."
        )
    suggestion = default_name()
    answer = prompt(f"Stage name for this project [{suggestion}]: ").strip() or suggestion
    validate(answer)
    private_dir(stored.parent)
    _ensure_gitignored(project_dir)
    stored.write_text(answer + "\n")
    return answer


def _ensure_gitignored(project_dir: Path) -> None:
    """`.relay/` holds per-developer state; keep it out of the user's commits."""
    ignore = project_dir / ".relay" / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")


def project_root(start: Path | None = None) -> Path:
    """The folder of the nearest `cdk.json` upwards, else the current folder."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "cdk.json").is_file():
            return folder
    return here
