"""Suite-wide settings."""

from __future__ import annotations

import os

from relay.cloud.synth import silence_jsii_banners

# Tests that import aws_cdk in-process get the settings relay gives itself at start-up.
silence_jsii_banners(os.environ)

# The shop app's `relay start` is shared by tests/record and tests/ui (one start per run).
pytest_plugins = ["tests.record.shop"]
