"""relay/cloud/go_live.py without an AWS account (moto's STS); a real account: tests/live/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from relay.cloud import aws_checks, go_live
from relay.stage import StageError

SAMPLE = Path(__file__).parent.parent / "cdk" / "sample_app"


def test_the_debug_stack_records_who_runs_relay_start(moto_aws: str, tmp_path: Path) -> None:
    """Go-live records the caller's ARN (STS, here moto's) as the stage's only client."""
    project = tmp_path / "app"
    shutil.copytree(SAMPLE, project)
    account, region, principal = aws_checks.aws_caller()
    assert principal == "arn:aws:sts::123456789012:user/moto"
    assembly = go_live.synthesize_debug_stack("alice", project, account, region, principal)
    stack = assembly.stacks()["relay-alice-debug"]
    assert stack["environment"] == "aws://123456789012/eu-west-1"
    assert stack["template"]["Outputs"]["ClientPrincipal"]["Value"] == principal
    (handler,) = [
        r for r in stack["template"]["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"]["Handler"] == "connect.handler"
    ]  # fmt: skip
    assert handler["Properties"]["Environment"]["Variables"]["RELAY_CLIENT_PRINCIPAL"] == principal


def test_invalid_stage_is_refused_before_any_aws_call(no_aws: None, tmp_path: Path) -> None:
    with pytest.raises(StageError, match="not a valid stage name"):
        go_live.go_live("Alice_1", tmp_path)
