"""relay/cloud/cdk_cli.py: the pinned CLI is found, run, and its failures explained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relay.cloud import cdk_cli

REPO = Path(__file__).resolve().parents[2]


def test_pinned_cli_is_found_in_relays_node_modules(tmp_path: Path) -> None:
    assert cdk_cli.find_cdk_cli(tmp_path) == [str(REPO / "node_modules" / ".bin" / "cdk")]
    pinned = json.loads((REPO / "package.json").read_text())["devDependencies"]["aws-cdk"]
    assert cdk_cli.pinned_cli_version() == pinned


def test_cli_override_and_the_apps_own_cli_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = tmp_path / "node_modules" / ".bin" / "cdk"
    own.parent.mkdir(parents=True)
    own.write_text("#!/bin/sh\n")
    assert cdk_cli.find_cdk_cli(tmp_path) == [str(own)]
    monkeypatch.setenv("RELAY_CDK_CLI", "/opt/cdk/bin/cdk")
    assert cdk_cli.find_cdk_cli(tmp_path) == ["/opt/cdk/bin/cdk"]


def test_known_toolkit_failures_get_the_fix() -> None:
    assert "aws sso login" in cdk_cli.explain_cli_failure(
        "Error: The SSO session associated with this profile has expired"
    )
    assert "aws configure" in cdk_cli.explain_cli_failure(
        "Unable to resolve AWS account to use. It must be either configured when you define"
    )
    assert "cdk bootstrap" in cdk_cli.explain_cli_failure(
        "SSM parameter /cdk-bootstrap/hnb659fds/version not found. Has the environment been "
        "bootstrapped? Please run 'cdk bootstrap'"
    )
    assert cdk_cli.explain_cli_failure("Template format error: unsupported structure") is None


def test_toolkit_failure_raises_with_its_output(no_aws: None, tmp_path: Path) -> None:
    with pytest.raises(cdk_cli.DeployError, match=r"`cdk ls --app` failed \(exit 1\)"):
        cdk_cli.run_cdk(["ls", "--app", str(tmp_path / "no-such-assembly")], tmp_path)
