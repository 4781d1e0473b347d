"""The AWS CDK toolkit (the pinned npm ``aws-cdk`` CLI) as a subprocess: finding it, running
it, and turning its known failures into one line that says what to do."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from relay.cloud import synth
from relay.package_dirs import RELAY_ROOT

Progress = Callable[[str], None]


class DeployError(Exception):
    """A deploy step failed; the message says what happened and how to fix it."""


def find_cdk_cli(project: Path) -> list[str]:
    """The pinned CLI: ``$RELAY_CDK_CLI``, the app's or relay's node_modules, else npx."""
    configured = os.environ.get("RELAY_CDK_CLI")
    if configured:
        return [configured]
    for root in (project, RELAY_ROOT):
        local = root / "node_modules" / ".bin" / "cdk"
        if local.is_file():
            return [str(local)]
    npx = shutil.which("npx")
    if npx:
        return [npx, "--yes", f"aws-cdk@{pinned_cli_version()}"]
    raise DeployError(
        "the AWS CDK CLI was not found and npx is missing: install Node.js 20+ "
        "(https://nodejs.org), then run `npm ci` in relay's folder or `npm i -D aws-cdk` in "
        "your app, or set RELAY_CDK_CLI to a cdk executable."
    )


def pinned_cli_version() -> str:
    """The version relay is tested with: ``package.json``'s pin, shipped as package data."""
    data = json.loads((Path(__file__).with_name("cdk_cli.json")).read_text())
    return str(data["aws-cdk"])


KNOWN_ERRORS = [
    (
        ("SSO session", "Token has expired", "ExpiredToken", "token is expired"),
        "your AWS session has expired: run `aws sso login` (or refresh your MFA session) "
        "and run again.",
    ),
    (
        ("Unable to resolve AWS account", "Could not load credentials", "no credentials"),
        "no AWS credentials: run `aws configure` or `aws sso login`, or set AWS_PROFILE.",
    ),
    (
        ("cdk bootstrap", "/cdk-bootstrap/", "toolkit stack must be deployed"),
        "this account/region is not bootstrapped for the CDK: run "
        "`npx cdk bootstrap aws://ACCOUNT/REGION` once, then run again.",
    ),
]


def explain_cli_failure(output: str) -> str | None:
    """Map the toolkit's known failures to one line that says what to do."""
    for needles, advice in KNOWN_ERRORS:
        if any(n.lower() in output.lower() for n in needles):
            return advice
    return None


def run_cdk(
    args: list[str],
    project: Path,
    *,
    env: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> str:
    """Run the toolkit, streaming its lines to ``progress``; raise a DeployError on failure."""
    try:
        run_env = synth.node_env()
    except synth.SynthError as exc:
        raise DeployError(str(exc)) from None
    run_env.update(env or {})
    command = [*find_cdk_cli(project), *args]
    lines: list[str] = []
    try:
        proc = subprocess.Popen(
            command, cwd=project, env=run_env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
    except OSError as exc:
        raise DeployError(f"could not run the CDK CLI ({command[0]}): {exc}") from None
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip("\n")
        lines.append(line)
        if progress is not None and line.strip():
            progress(line)
    code = proc.wait()
    output = "\n".join(lines)
    if code != 0:
        advice = explain_cli_failure(output) or "see the CDK output above."
        tail = "\n".join(lines[-25:])
        raise DeployError(f"`cdk {' '.join(args[:2])}` failed (exit {code}): {advice}\n{tail}")
    return output
