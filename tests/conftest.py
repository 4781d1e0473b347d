"""Suite-wide settings."""

from __future__ import annotations

import os

from hypothesis import settings

from relay.cloud.synth import silence_jsii_banners

# In CI the property and stateful tests replay the same examples every run, so a random seed
# can never refuse a submission; on a developer's machine they keep exploring new ones.
# (Explicit per-test settings inherit this; conftest is imported before the test modules.)
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# Tests that import aws_cdk in-process get the settings relay gives itself at start-up.
silence_jsii_banners(os.environ)

# The shop app's `relay start` is shared by tests/record and tests/ui (one start per run).
pytest_plugins = ["tests.record.shop"]
