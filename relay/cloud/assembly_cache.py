"""relay's debug-stack assembly, shared by every app on this machine (``<cache>/assemblies``).

The debug stack reads none of the app's files, so a first start of another app (or of the
same app after ``git clean``) can reuse the assembly an earlier start synthesized, instead of
paying a jsii start and a CDK synthesis for it again. An entry is keyed by everything that
determines the assembly: relay's own files that build it, the CDK libraries' versions, the
context keys its synthesis reads, the values it is given (stage, account, region, client
principal, validation) and the stub asset's content. An entry for another stage, account or
context is never served.

Entries are published whole (a staging folder renamed into place, as the stub asset is): two
starts at once both synthesize and both work; the rename that loses leaves the winner's
identical entry. Entries are never modified after that, so readers need no lock.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from relay.cloud.stub_asset import cache_root
from relay.package_dirs import CDK_DIR, RELAY_DIR

log = logging.getLogger(__name__)

#: Bumped when the entries' layout or the key's recipe changes.
LAYOUT = 1
#: Written last into an entry; holds the full key (entry folder names are a prefix of it).
KEY_FILE = "relay-shared-key"
#: Context keys relay's debug app reads itself (infra/debug_app.py).
RELAY_CONTEXT_KEYS = frozenset({"stage", "relay"})
#: Context keys aws-cdk-lib reads: feature flags (``@aws-cdk/...``, ``@aws-cdk-containers/...``)
#: and switches (``aws:cdk:...``), plus one legacy key of container assets. Read off aws-cdk-lib
#: 2.275's ``tryGetContext`` calls. An app's own keys and its lookups (cdk.context.json) are
#: not read by the debug stack (it looks nothing up), so they do not split the cache.
CDK_CONTEXT_PREFIXES = ("@aws-cdk", "aws:cdk:", "assets-ecr-repository-name")
#: The distributions whose code turns relay's construct calls into templates.
LIBRARIES = ("aws-cdk-lib", "constructs", "jsii")


def assemblies_root() -> Path:
    return cache_root() / "assemblies"


def debug_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """The part of the app's merged context the debug stack's synthesis can read."""
    return {
        key: value
        for key, value in context.items()
        if key in RELAY_CONTEXT_KEYS or key.startswith(CDK_CONTEXT_PREFIXES)
    }


@functools.cache
def library_versions() -> tuple[tuple[str, str], ...]:
    versions = []
    for name in LIBRARIES:
        try:
            versions.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            versions.append((name, "missing"))
    return tuple(versions)


def relay_sources() -> list[Path]:
    """relay's files that build the debug stack: relay.cdk (infra/) and the synthesis code."""
    files = [p for p in CDK_DIR.rglob("*.py") if "__pycache__" not in p.parts]
    files += [RELAY_DIR / "cloud" / "synth.py", Path(__file__)]
    return sorted(files)


def _folder_digest(folder: Path, digest: Any) -> None:
    """Names and contents (not mtimes: the same stub copied elsewhere is the same stub)."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")


def debug_stack_key(context: Mapping[str, Any], values: Mapping[str, str], stub_dir: Path) -> str:
    """The shared key of a debug-stack assembly.

    ``context``: the merged context the synthesis gets (filtered by :func:`debug_context`);
    ``values``: what else it gets that is not a path (account, region, client principal,
    validation switch...); ``stub_dir``: the stub asset, keyed by content.
    """
    digest = hashlib.sha256()
    recipe = {
        "layout": LAYOUT,
        "context": debug_context(context),
        "values": dict(values),
        "libraries": library_versions(),
    }
    digest.update(json.dumps(recipe, sort_keys=True, default=str).encode())
    for path in relay_sources():
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    _folder_digest(Path(stub_dir), digest)
    return digest.hexdigest()


def _entry(key: str, root: Path | None) -> Path:
    return (root or assemblies_root()) / f"debug-{key[:32]}"


def fetch(key: str, out_dir: Path, root: Path | None = None) -> bool:
    """Copy the entry for ``key`` into ``out_dir`` (replacing it); False if there is none."""
    entry = _entry(key, root)
    marker = entry / KEY_FILE
    try:
        if not marker.is_file() or marker.read_text() != key:
            return False
        if out_dir.exists():
            shutil.rmtree(out_dir)
        shutil.copytree(entry, out_dir, ignore=shutil.ignore_patterns(KEY_FILE))
    except OSError as exc:  # e.g. the cache folder removed meanwhile: synthesize instead
        log.debug("shared assembly %s not used: %s", entry, exc)
        shutil.rmtree(out_dir, ignore_errors=True)
        return False
    return True


def publish(key: str, source: Path, root: Path | None = None, ignore: tuple[str, ...] = ()) -> None:
    """Publish ``source`` (a finished assembly) as the entry for ``key``, whole or not at all.

    Never raises: a cache that cannot be written costs the next app a synthesis, nothing more.
    """
    entry = _entry(key, root)
    if (entry / KEY_FILE).is_file():
        return
    staging: Path | None = None
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=entry.parent))
        shutil.copytree(source, staging, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*ignore))
        (staging / KEY_FILE).write_text(key)
        _rename(staging, entry)
    except OSError as exc:
        if not (entry / KEY_FILE).is_file():  # not "another start published it first"
            log.debug("shared assembly %s not published: %s", entry, exc)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _rename(staging: Path, entry: Path) -> None:
    """Atomic: fails (ENOTEMPTY/EEXIST) when another start's entry is already in place."""
    os.rename(staging, entry)
