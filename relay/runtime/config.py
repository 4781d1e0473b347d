"""A function's configuration and the execution environment Lambda would give it."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

#: Variables of the developer's own shell that a worker may keep: a real Lambda has a PATH
#: and a locale, but none of the developer's AWS_* or other secrets.
_INHERITED = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR")

PYTHON_TAG = f"python{sys.version_info.major}.{sys.version_info.minor}"


@dataclass(frozen=True)
class FunctionConfig:
    """What relay needs to run one Lambda function locally."""

    name: str
    handler: str
    code_dir: Path
    layers: tuple[Path, ...] = ()
    # repr=False: it carries the role's credentials, which must never reach a log line
    environment: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    timeout: float = 3.0
    memory_mb: int = 128
    region: str = "us-east-1"
    account_id: str = "123456789012"
    #: Lambda's runtime name ("python3.12"); "" = whatever relay runs on
    runtime: str = ""
    #: layer folders whose contents Lambda gets under python/ (PythonLayerVersion entries)
    source_layers: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        # Frozen + hashable comparisons need plain, immutable values.
        object.__setattr__(self, "code_dir", Path(self.code_dir).resolve())
        object.__setattr__(self, "layers", tuple(Path(p).resolve() for p in self.layers))
        object.__setattr__(
            self, "source_layers", tuple(Path(p).resolve() for p in self.source_layers)
        )
        object.__setattr__(self, "environment", MappingProxyType(dict(self.environment)))
        if not self.name:
            raise ValueError("FunctionConfig.name is empty: give the AWS function name")
        if "." not in self.handler:
            raise ValueError(
                f"handler {self.handler!r} has no '.': write it as module.function "
                "(e.g. app.handler or pkg/mod.fn)"
            )
        for key, value in self.environment.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ValueError(
                    f"environment variable {key!r} of {self.name}: names and values must be "
                    f"strings (got {type(value).__name__}); Lambda passes only strings"
                )
            if not key or "=" in key or "\0" in key or "\0" in value:
                raise ValueError(
                    f"environment variable {key!r} of {self.name} cannot be set: a name must "
                    "be non-empty without '=' and neither may contain a NUL character"
                )
        if self.timeout <= 0:
            raise ValueError(f"timeout must be positive seconds, got {self.timeout}")

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.name}"

    @property
    def watched_dirs(self) -> tuple[Path, ...]:
        return (self.code_dir, *self.source_layers, *self.layers)

    @classmethod
    def from_record(
        cls,
        record: Mapping[str, Any],
        *,
        name: str,
        region: str,
        account_id: str,
        environment: Mapping[str, str] | None = None,
        extra_layers: tuple[Path, ...] = (),
    ) -> FunctionConfig:
        """The one constructor from a function record: ``functions.json``'s (relay.cloud.synth)
        or the emulator's state file's (``record()``), plus what only the cloud knows."""
        return cls(
            name=name,
            handler=str(record["handler"]),
            code_dir=Path(record["code_dir"]),
            layers=(*(Path(p) for p in record.get("layers", [])), *extra_layers),
            source_layers=tuple(Path(p) for p in record.get("source_layers", [])),
            runtime=str(record.get("runtime", "")),
            environment=environment or {},
            timeout=float(record["timeout"]),
            memory_mb=int(record["memory"]),
            region=region,
            account_id=account_id,
        )

    def record(self) -> dict[str, Any]:
        """What ``from_record`` reads back, without the environment (it holds credentials)."""
        return {
            "name": self.name,
            "handler": self.handler,
            "code_dir": str(self.code_dir),
            "layers": [str(p) for p in self.layers],
            "source_layers": [str(p) for p in self.source_layers],
            "runtime": self.runtime,
            "timeout": self.timeout,
            "memory": self.memory_mb,
            "region": self.region,
            "account_id": self.account_id,
        }

    def same_as(self, other: FunctionConfig) -> bool:
        """Equality including the environment mapping (MappingProxyType compares by identity)."""
        return (
            self.name == other.name
            and self.handler == other.handler
            and self.code_dir == other.code_dir
            and self.layers == other.layers
            and dict(self.environment) == dict(other.environment)
            and self.timeout == other.timeout
            and self.memory_mb == other.memory_mb
            and self.region == other.region
            and self.account_id == other.account_id
            and self.runtime == other.runtime
            and self.source_layers == other.source_layers
        )


@functools.cache
def _runtime_paths() -> tuple[str, ...]:
    import awslambdaric

    site = str(Path(awslambdaric.__file__).resolve().parent.parent)
    extra = [p for p in sys.path if p.endswith("site-packages") and p != site]
    return (site, *extra)


def runtime_paths() -> list[str]:
    """Folders of the runtime itself (awslambdaric, boto3): Lambda's /var/runtime."""
    return list(_runtime_paths())


def stdlib_paths() -> list[str]:
    """The interpreter's own library folders, in the order the interpreter put them."""
    prefixes = (sys.base_prefix, sys.base_exec_prefix)
    return [
        p
        for p in sys.path
        if p and p.startswith(prefixes) and "site-packages" not in p and "dist-packages" not in p
    ]


def code_paths(config: FunctionConfig, python_tag: str = PYTHON_TAG) -> list[str]:
    """Lambda's import order: the task root, then /opt/python of the merged layers.

    Lambda extracts layers into /opt in order, a later layer overwriting an earlier one, so
    the later layer's folders come first here. A source layer (a PythonLayerVersion entry)
    is what its bundle puts under python/, so it goes on the path as it is.
    """
    paths = [str(config.code_dir)]
    for layer in reversed(config.layers):
        paths.append(str(layer / "python" / "lib" / python_tag / "site-packages"))
        paths.append(str(layer / "python"))
    paths.extend(str(layer) for layer in reversed(config.source_layers))
    return paths


def lambda_environment(
    config: FunctionConfig,
    *,
    runtime_api: str,
    log_stream: str,
    debug: bool = False,
    python_tag: str = PYTHON_TAG,
    site_paths: list[str] | None = None,
) -> dict[str, str]:
    """The exact environment a worker runs the handler with.

    ``python_tag`` and ``site_paths``: the interpreter the worker really runs and its
    packages (the function's own environment; relay's by default).
    """
    site_paths = runtime_paths() if site_paths is None else site_paths
    env = {k: os.environ[k] for k in _INHERITED if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("LANG", "en_US.UTF-8")
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": config.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_LAMBDA_RUNTIME_API": runtime_api,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "_HANDLER": config.handler,
            "LAMBDA_TASK_ROOT": str(config.code_dir),
            "LAMBDA_RUNTIME_DIR": site_paths[0],
            "AWS_REGION": config.region,
            "AWS_DEFAULT_REGION": config.region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{python_tag}",
            "TZ": ":UTC",
            "PYTHONPATH": os.pathsep.join([*code_paths(config, python_tag), *site_paths]),
            "IS_LOCAL": "true",
        }
    )
    # The function's own variables win, as in Lambda (which rejects reserved keys at deploy).
    env.update(config.environment)
    # ...except what ties the worker to relay: those Lambda does not let a function set.
    env["AWS_LAMBDA_RUNTIME_API"] = runtime_api
    env["_HANDLER"] = config.handler
    env["LAMBDA_TASK_ROOT"] = str(config.code_dir)
    if debug:
        # relay.debug.attach.enable() puts the live attach-state address here (see
        # docs/architecture.md, Debugging); "1" = debug mode without it.
        env["RELAY_DEBUG"] = os.environ.get("RELAY_DEBUG") or "1"
        env.update({k: v for k, v in os.environ.items() if k.startswith("PYDEVD_")})
    return env
