"""Layers referenced by ARN (e.g. Powertools' public layer): a local folder the developer
names with ``--layer-dir``, or in AWS mode the layer itself, fetched once with
``GetLayerVersionByArn`` and kept unpacked in a cache."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

#: Where fetched layers are unpacked (RELAY_LAYER_CACHE moves it).
CACHE_ENV = "RELAY_LAYER_CACHE"
_MAX_LAYER_BYTES = 250 * 1024 * 1024  # Lambda's limit for a function and its layers, unzipped


class LayerError(Exception):
    """A layer could not be provided; the message says what to do."""


def parse_layer_dirs(values: list[str]) -> dict[str, Path]:
    """``--layer-dir NAME=DIR`` (repeatable): NAME is the layer's ARN or its name."""
    found: dict[str, Path] = {}
    for value in values:
        name, sep, folder = value.partition("=")
        if not sep or not name or not folder:
            raise LayerError(
                f"--layer-dir {value!r}: write it as ARN_OR_NAME=FOLDER, e.g. "
                "--layer-dir AWSLambdaPowertoolsPythonV3-python312-x86_64=./powertools"
            )
        path = Path(folder).expanduser().resolve()
        if not path.is_dir():
            raise LayerError(f"--layer-dir {value!r}: {path} is not a folder")
        found[name] = path
    return found


def layer_name(arn: str) -> str:
    """``arn:aws:lambda:<region>:<account>:layer:<name>:<version>`` -> ``<name>``."""
    parts = arn.split(":")
    return parts[6] if len(parts) >= 8 and parts[5] == "layer" else arn


def local_layer(arn: str, layer_dirs: dict[str, Path]) -> Path | None:
    """The folder given for this layer: by its full ARN, or by its name (any version)."""
    return layer_dirs.get(arn) or layer_dirs.get(layer_name(arn))


def missing_layer_note(path: str, arn: str) -> str:
    return (
        f"{path}: layer {arn} is not available locally: pass --layer-dir "
        f"{layer_name(arn)}=DIR (its unzipped content, with python/), or add its package to "
        "the function's requirements.txt"
    )


def default_cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "relay" / "layers"


def fetch_layer(arn: str, lambda_client: Any, cache_dir: Path | None = None) -> Path:
    """The layer version's content, unpacked once under the cache (a version never changes)."""
    cache = cache_dir or default_cache_dir()
    folder = cache / hashlib.sha256(arn.encode()).hexdigest()[:24]
    if folder.is_dir():
        return folder
    try:
        described = lambda_client.get_layer_version_by_arn(Arn=arn)
    except Exception as exc:  # botocore's ClientError and friends: say which layer
        raise LayerError(f"layer {arn} could not be read from AWS: {exc}") from None
    location = (described.get("Content") or {}).get("Location")
    if not location:
        raise LayerError(f"layer {arn}: AWS returned no download location")
    try:
        with urllib.request.urlopen(location, timeout=120) as response:
            data = response.read(_MAX_LAYER_BYTES + 1)
    except OSError as exc:
        raise LayerError(f"layer {arn} could not be downloaded: {exc}") from None
    if len(data) > _MAX_LAYER_BYTES:
        raise LayerError(f"layer {arn} is larger than Lambda allows ({_MAX_LAYER_BYTES} bytes)")
    staging = folder.with_name(f"{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                target = (staging / member).resolve()
                if not target.is_relative_to(staging.resolve()):
                    raise LayerError(f"layer {arn}: unsafe path {member!r} in its zip")
            archive.extractall(staging)
    except zipfile.BadZipFile:
        shutil.rmtree(staging, ignore_errors=True)
        raise LayerError(f"layer {arn}: the download is not a zip file") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if folder.exists():
        shutil.rmtree(staging, ignore_errors=True)
    else:
        os.replace(staging, folder)
    return folder
