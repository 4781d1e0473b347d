"""Suite-wide settings."""

from __future__ import annotations

import contextlib
import os

from relay.cloud.synth import SynthError, node_env

_BANNER_SWITCH = "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"


def _silence_node_end_of_life_banner() -> None:
    """jsii prints a banner on every aws_cdk import under Node 20; it only names the version.

    Tests that import aws_cdk in-process get the same setting relay gives the processes it
    starts (the variable must list the running Node major version).
    """
    with contextlib.suppress(SynthError):  # no Node.js: the tests that need it say so
        os.environ.setdefault(_BANNER_SWITCH, node_env()[_BANNER_SWITCH])


_silence_node_end_of_life_banner()

# The shop app's `relay start` is shared by tests/record and tests/ui (one start per run).
pytest_plugins = ["tests.record.shop"]
