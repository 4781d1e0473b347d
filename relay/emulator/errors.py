"""AWS error responses as the REST-JSON protocol carries them, so boto3 raises the named
exception (`GoneException`, `ResourceNotFoundException`, ...) with a helpful message."""

from __future__ import annotations

from relay.emulator.http import Response
from relay.emulator.ids import request_id


def aws_error(
    status: int, error_type: str, message: str, *, lambda_style: bool = False
) -> Response:
    """An error with the `x-amzn-ErrorType` header and body that botocore parses.

    Lambda's bodies are `{"Type": "User", "message": ...}`; API Gateway's `{"message": ...}`.
    """
    body: dict[str, str] = {"message": message}
    if lambda_style:
        body = {"Type": "User" if status < 500 else "Service", "message": message}
    return Response.json(
        status,
        body,
        [("x-amzn-ErrorType", error_type), ("x-amzn-RequestId", request_id())],
    )
