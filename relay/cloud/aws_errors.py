"""An AWS error that reaches the user, as one line: what happened and what to do next.

botocore's exceptions carry the facts (the endpoint it could not reach, the error code AWS
answered) but print as long tracebacks; relay's commands turn the ones they do not handle
themselves into this line.
"""

from __future__ import annotations


def describe(exc: BaseException, stage: str) -> str:
    """One line for a botocore exception (BotoCoreError or ClientError)."""
    import botocore.exceptions as errors

    local = f"`relay start --local --stage {stage}` needs no AWS at all"
    if isinstance(exc, (errors.EndpointConnectionError, errors.ConnectTimeoutError)):
        where = getattr(exc, "kwargs", {}).get("endpoint_url", "AWS")
        return (
            f"cannot reach AWS ({where}): check your network connection (proxy, VPN), then run "
            f"again; {local}."
        )
    if isinstance(exc, (errors.NoCredentialsError, errors.PartialCredentialsError)):
        return (
            "no AWS credentials found: run `aws configure` (or `aws sso login` with "
            "AWS_PROFILE set), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; "
            f"{local}."
        )
    if isinstance(exc, errors.NoRegionError):
        return "no AWS region configured: set AWS_REGION (or a region in your AWS profile)."
    if isinstance(exc, errors.ClientError):
        error = exc.response.get("Error", {})
        operation = getattr(exc, "operation_name", "the request")
        return (
            f"AWS refused {operation}: {error.get('Code', 'error')}: "
            f"{error.get('Message', '').strip() or exc}. Check that your credentials may do "
            "this in this account and region."
        )
    return f"AWS call failed: {' '.join(str(exc).split())}"
