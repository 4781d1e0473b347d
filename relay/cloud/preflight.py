"""What relay checks before it changes anything in an AWS account, and AWS errors in one line.

Pure where it can be (assemblies in, problems out), so the checks are tested without an
account; relay/cloud/aws_checks.py and go_live.py call AWS and raise DeployError with
these words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: The CDK's default qualifier; an app may choose its own (`@aws-cdk/core:bootstrapQualifier`).
DEFAULT_QUALIFIER = "hnb659fds"
_PARAMETER = re.compile(r"^/cdk-bootstrap/(?P<qualifier>[^/]+)/version$")


@dataclass(frozen=True)
class StackTarget:
    """Where one stack of an assembly deploys, and the bootstrap version it checks."""

    key: str  # its key in Assembly.stacks() (the stack's node path)
    name: str
    account: str
    region: str
    bootstrap_parameter: str

    @property
    def qualifier(self) -> str:
        match = _PARAMETER.match(self.bootstrap_parameter)
        return match["qualifier"] if match else DEFAULT_QUALIFIER


def stack_targets(assembly: Any, account: str, region: str) -> list[StackTarget]:
    """Each stack's own account and region (the caller's where the app leaves them open)."""
    targets = []
    for key, stack in assembly.stacks().items():
        env = str(stack.get("environment") or "aws://unknown-account/unknown-region")
        _, _, rest = env.partition("aws://")
        stack_account, _, stack_region = rest.partition("/")
        targets.append(
            StackTarget(
                key=key,
                name=stack["stack_name"],
                account=account if stack_account in ("", "unknown-account") else stack_account,
                region=region if stack_region in ("", "unknown-region") else stack_region,
                bootstrap_parameter=stack.get("bootstrap_parameter")
                or f"/cdk-bootstrap/{DEFAULT_QUALIFIER}/version",
            )
        )
    return targets


def bootstrap_advice(target: StackTarget) -> str:
    qualifier = "" if target.qualifier == DEFAULT_QUALIFIER else f" --qualifier {target.qualifier}"
    return (
        f"region {target.region} of account {target.account} is not bootstrapped for the CDK"
        + (f" with qualifier {target.qualifier}" if qualifier else "")
        + f" (stack {target.name}): run `npx cdk bootstrap aws://{target.account}/"
        f"{target.region}{qualifier}` once, then run again."
    )


def shared_stack_names(live: Any, probe: Any) -> list[str]:
    """Stacks named the same when the app is synthesized for two different stages."""
    names = {s["stack_name"] for s in probe.stacks().values()}
    return sorted(s["stack_name"] for s in live.stacks().values() if s["stack_name"] in names)


def names_without_stage(live: Any, stage: str) -> list[str]:
    """Stacks whose name does not contain the stage (when a second synthesis is impossible)."""

    def squash(text: str) -> str:
        return re.sub(r"[-_]", "", text.lower())

    names = [s["stack_name"] for s in live.stacks().values()]
    return sorted(name for name in names if squash(stage) not in squash(name))


def shared_stacks_problem(stage: str, names: list[str]) -> str:
    return (
        f"the app's stack(s) {', '.join(names)} do not depend on the stage: going live with "
        f"stage {stage} would swap their functions for stubs for everyone using them (and "
        "`relay remove --all` would delete them). Name each stack after the stage, e.g. "
        '`stage = app.node.try_get_context("stage")` then `MyStack(app, f"my-service-{stage}")`'
        ", and run again."
    )


def probe_stage(stage: str) -> str:
    """A second stage name for the check, never the stage itself."""
    return "relay-probe" if stage != "relay-probe" else "relay-probe-2"


def describe_aws_error(exc: BaseException, doing: str) -> str:
    """One line for an AWS error: what failed, and what to do next."""
    import botocore.exceptions as errors

    if isinstance(exc, errors.NoCredentialsError | errors.PartialCredentialsError):
        return "no AWS credentials: run `aws configure` or `aws sso login`, or set AWS_PROFILE."
    expired = "your AWS session has expired: run `aws sso login` (or refresh it) and run again."
    sso = (errors.TokenRetrievalError, errors.SSOTokenLoadError, errors.UnauthorizedSSOTokenError)
    if isinstance(exc, sso):
        return expired
    if isinstance(exc, errors.EndpointConnectionError | errors.ConnectTimeoutError):
        return (
            f"cannot reach AWS while {doing} ({exc}): check your network, proxy or VPN and "
            "run again."
        )
    if isinstance(exc, errors.ClientError):
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "")), str(error.get("Message", ""))
        operation = getattr(exc, "operation_name", "") or "a call"
        if "Expired" in code:
            return expired
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation") or (
            "not authorized" in message
        ):
            return (
                f"your AWS identity may not {operation} while {doing}: {message} Use a profile "
                "with that permission (AWS_PROFILE), or ask your administrator for it."
            )
        if "Throttl" in code or code == "TooManyRequestsException":
            return f"AWS throttled {operation} while {doing}; wait a minute and run again."
        return f"AWS refused {operation} while {doing}: {code}: {message}"
    return f"{doing} failed: {exc}"
