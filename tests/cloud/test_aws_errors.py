"""AWS errors reach the user as one line that says what to do."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import botocore.exceptions as errors
import pytest

from relay.cloud.aws_errors import describe

E2E_APP = Path(__file__).parents[1] / "e2e" / "app"


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (
            errors.EndpointConnectionError(endpoint_url="https://sts.eu-west-1.amazonaws.com/"),
            "cannot reach AWS (https://sts.eu-west-1.amazonaws.com/): check your network "
            "connection (proxy, VPN), then run again; `relay start --local --stage alice` "
            "needs no AWS at all.",
        ),
        (
            errors.NoCredentialsError(),
            "no AWS credentials found: run `aws configure` (or `aws sso login` with "
            "AWS_PROFILE set), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; "
            "`relay start --local --stage alice` needs no AWS at all.",
        ),
        (
            errors.NoRegionError(),
            "no AWS region configured: set AWS_REGION (or a region in your AWS profile).",
        ),
        (
            errors.ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "not allowed\n"}}, "DescribeStacks"
            ),
            "AWS refused DescribeStacks: AccessDenied: not allowed. Check that your "
            "credentials may do this in this account and region.",
        ),
    ],
)
def test_each_error_is_one_line_with_what_to_do(exc: Exception, line: str) -> None:
    assert describe(exc, "alice") == line


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_relay_start_without_reaching_aws_prints_one_line(tmp_path: Path) -> None:
    """STS pointed at a closed loopback port: what `relay start` does without a network."""
    app = tmp_path / "app"
    shutil.copytree(E2E_APP, app, ignore=shutil.ignore_patterns("__pycache__", "cdk.out"))
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "example",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_STS": closed,
        "AWS_MAX_ATTEMPTS": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "relay", "start", "--stage", "offline", "--app", str(app)],
        capture_output=True, text=True, timeout=300, env=env, cwd=app,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    output = (proc.stdout + proc.stderr).strip()
    assert "Traceback" not in output, output
    assert output.splitlines()[-1] == (
        f"relay: error: cannot reach AWS ({closed}/): check your network connection (proxy, "
        "VPN), then run again; `relay start --local --stage offline` needs no AWS at all."
    ), output
