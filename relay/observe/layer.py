"""The observe layer: the stub asset's modules plus the wrapper (``relay_observe``) under
``python/``, as a Lambda layer lays them out in ``/opt``. Cached by content like the stub."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from relay.cloud.stub_asset import MARKER, build_stub_asset, cache_root
from relay.package_dirs import STUB_DIR

WRAPPER = STUB_DIR / "observe.py"


def build_observe_layer(cache_dir: Path | None = None) -> Path:
    asset = build_stub_asset(cache_dir)
    digest = hashlib.sha256(asset.name.encode() + WRAPPER.read_bytes()).hexdigest()[:20]
    root = cache_dir or cache_root()
    target = root / f"observe-{digest}"
    if (target / MARKER).is_file():
        return target
    staging = Path(tempfile.mkdtemp(prefix=".observe-", dir=root))
    try:
        shutil.copytree(asset, staging / "python", ignore=shutil.ignore_patterns(MARKER))
        shutil.copyfile(WRAPPER, staging / "python" / "relay_observe.py")
        (staging / MARKER).write_text(digest + "\n")
        try:
            staging.rename(target)
        except OSError:  # built concurrently: theirs is identical
            if not (target / MARKER).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
