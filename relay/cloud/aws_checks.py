"""Checks against the developer's AWS account before and while deploying: identity,
bootstrap, stage-dependent stack names, a stack's outputs; AWS errors as one clear line."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from relay import session
from relay.cloud import preflight, synth
from relay.cloud.assembly import Assembly
from relay.cloud.cdk_cli import KNOWN_ERRORS, DeployError


def aws_identity() -> tuple[str, str]:
    """(account, region) of the developer's credentials, or a DeployError with the fix."""
    account, region, _ = aws_caller()
    return account, region


def aws_caller(session_: Any = None) -> tuple[str, str, str]:
    """(account, region, principal ARN) of the developer's credentials; the ARN is the one
    identity that may connect as the stage's client."""
    import boto3
    import botocore.exceptions as errors

    session_ = session_ or boto3.Session()
    region = session_.region_name or os.environ.get("AWS_REGION")  # the CDK's variable too
    if not region:
        raise DeployError(
            "no AWS region configured: set AWS_REGION (or a region in your AWS profile)."
        )
    try:
        identity = session_.client("sts", region_name=region).get_caller_identity()
    except errors.NoCredentialsError:
        raise DeployError(KNOWN_ERRORS[1][1]) from None
    except (errors.TokenRetrievalError, errors.SSOTokenLoadError, errors.UnauthorizedSSOTokenError):
        raise DeployError(KNOWN_ERRORS[0][1]) from None
    except errors.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if "Expired" in code:
            raise DeployError(KNOWN_ERRORS[0][1]) from None
        raise DeployError(f"AWS rejected your credentials ({code}): {exc}") from None
    return identity["Account"], region, identity["Arn"]


def require_bootstrap(targets: list[preflight.StackTarget], account: str) -> None:
    """The toolkit needs its bootstrap stack in each stack's region, with the qualifier the
    app synthesized with; say so before a long deploy fails."""
    import boto3
    import botocore.exceptions as errors

    checked: set[tuple[str, str]] = set()
    for target in targets:
        key = (target.region, target.bootstrap_parameter)
        if target.account != account or key in checked:
            continue  # another account's bootstrap is the toolkit's to check (its roles)
        checked.add(key)
        try:
            boto3.client("ssm", region_name=target.region).get_parameter(
                Name=target.bootstrap_parameter
            )
        except errors.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
                raise DeployError(preflight.bootstrap_advice(target)) from None
            raise


@contextlib.contextmanager
def aws_errors(doing: str) -> Iterator[None]:
    """Any AWS error while ``doing`` becomes a DeployError of one clear line."""
    import botocore.exceptions as errors

    try:
        yield
    except (errors.BotoCoreError, errors.ClientError) as exc:
        raise DeployError(preflight.describe_aws_error(exc, doing)) from None


def require_stage_dependent_names(
    project: Path, stage: str, live: Assembly, env: dict[str, str]
) -> None:
    """Refuse an app whose stacks are named the same for every stage: going live would
    swap shared (maybe production) stacks for stubs, and `remove --all` would delete them."""
    probe = preflight.probe_stage(stage)
    try:
        other = synth.synthesize(  # names only: no bundling (Docker), no validation
            project, probe, out_dir=session.stage_dir(project, stage) / "cdk.out.stage-probe",
            env=env,
            validation=False, context={synth.BUNDLING_STACKS: []},
        )  # fmt: skip
        shared = preflight.shared_stack_names(live, other)
    except synth.SynthError:  # the app accepts only some stages: the names must show it
        shared = preflight.names_without_stage(live, stage)
    if shared:
        raise DeployError(preflight.shared_stacks_problem(stage, shared))


def stack_outputs(stack_name: str, region: str) -> dict[str, str] | None:
    import boto3
    import botocore.exceptions as errors

    try:
        stacks = boto3.client("cloudformation", region_name=region).describe_stacks(
            StackName=stack_name
        )["Stacks"]
    except errors.ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    if not stacks or stacks[0]["StackStatus"].endswith(("FAILED", "ROLLBACK_COMPLETE")):
        return None
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
