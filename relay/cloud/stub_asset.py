"""The stub's Lambda code folder, self-contained: what the CDK Aspect and the emulator deploy.

Layout (all top-level modules, so ``stub.handler`` and ``connect.handler`` are the handlers)::

    stub.py  connect.py  messages.py  stub_session.py  http1.py  signing.py  websockets/
    RELAY_ASSET

``messages.py``, ``stub_session.py`` and ``http1.py`` (``relay/link/``) and ``signing.py``
(``relay/client/``) are copied verbatim, ``stub.py`` and ``connect.py`` from
``relay.stub_lambda``; ``websockets/`` is the pure-Python websockets 15 vendored in
``relay.stub_lambda.vendor`` (the newest release for Python 3.9), so the folder runs on every
Lambda Python runtime (3.9+) and architecture. botocore comes from the Lambda
runtime. Folders are cached by content hash: an unchanged relay reuses one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from relay.package_dirs import RELAY_DIR, STUB_DIR

_MODULES = {
    "stub.py": STUB_DIR / "stub.py",
    "connect.py": STUB_DIR / "connect.py",
    "messages.py": RELAY_DIR / "link" / "messages.py",
    "stub_session.py": RELAY_DIR / "link" / "stub_session.py",
    "http1.py": RELAY_DIR / "link" / "http1.py",
    "signing.py": RELAY_DIR / "client" / "signing.py",
}
#: websockets 15.0.1, the newest that runs on Python 3.9 (stub_lambda/vendor/README.md).
_PACKAGES = {"websockets": STUB_DIR / "vendor" / "websockets"}
_KEEP_SUFFIXES = (".py", ".typed", "")  # "": LICENSE
MARKER = "RELAY_ASSET"


def cache_root() -> Path:
    """``$RELAY_CACHE_DIR`` or ``$XDG_CACHE_HOME/relay`` (default ``~/.cache/relay``)."""
    configured = os.environ.get("RELAY_CACHE_DIR")
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "relay"


def asset_files() -> dict[str, Path]:
    """Every file of the asset: relative name -> source path."""
    files = dict(_MODULES)
    for name, source in _PACKAGES.items():
        for path in sorted(source.rglob("*")):
            if path.is_file() and path.suffix in _KEEP_SUFFIXES and "__pycache__" not in path.parts:
                files[f"{name}/{path.relative_to(source).as_posix()}"] = path
    return files


def build_stub_asset(cache_dir: Path | None = None) -> Path:
    """The asset folder for the current sources, built once per content hash."""
    files = asset_files()
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].read_bytes() + b"\0")
    fingerprint = digest.hexdigest()[:20]
    root = cache_dir or cache_root()
    target = root / f"stub-{fingerprint}"
    if (target / MARKER).is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".stub-", dir=root))
    try:
        for name, source in files.items():
            destination = staging / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
        (staging / MARKER).write_text(fingerprint + "\n")
        try:
            staging.rename(target)
        except OSError:  # built concurrently by another process: theirs is identical
            if not (target / MARKER).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
