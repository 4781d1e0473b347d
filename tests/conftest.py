"""Suite-wide settings."""

from __future__ import annotations

import os
import shutil
import subprocess


def _silence_node_end_of_life_banner() -> None:
    """jsii prints a banner on every aws_cdk import under Node 20; it only names the version."""
    if "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION" in os.environ:
        return
    node = shutil.which("node")
    if node is None:
        return
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
    major = version.strip().lstrip("v").split(".")[0]
    if major.isdigit():
        os.environ["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = major


_silence_node_end_of_life_banner()
