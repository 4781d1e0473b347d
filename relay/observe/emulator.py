"""Observe mode on the embedded emulator: each relayed function runs its real code (a copy
taken at start, as a deployment would) wrapped by ``relay_observe``, instead of the stub."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

from relay.observe import HANDLER
from relay.observe.layer import build_observe_layer

_ISSUED = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def observe_functions(emulator: Any, provisioned: Any, *, sample: float, snapshot: Path) -> None:
    """Replace the stubs of ``provisioned`` functions by their wrapped real code."""
    layer = build_observe_layer()
    for fn in provisioned.functions:
        deployed = snapshot / fn.function_name
        shutil.rmtree(deployed, ignore_errors=True)
        shutil.copytree(
            fn.config.code_dir, deployed, ignore=shutil.ignore_patterns("__pycache__", ".relay")
        )
        environment = {
            k: v for k, v in emulator.environment(fn.function_name).items() if k not in _ISSUED
        }
        environment["RELAY_ORIGINAL_HANDLER"] = fn.config.handler
        environment["RELAY_OBSERVE_SAMPLE"] = repr(sample)
        config = dataclasses.replace(
            fn.config,
            handler=HANDLER,
            code_dir=deployed,
            layers=(*fn.config.layers, layer),
            environment=environment,
        )
        emulator.create_function(config)
