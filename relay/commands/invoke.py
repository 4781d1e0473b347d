"""`relay invoke`: call a live (stubbed) function through the Lambda Invoke API.

It goes through the same front door as any AWS caller — the emulator's Invoke API in local
mode, Lambda itself in AWS mode — so it exercises the whole relay path.
"""

from __future__ import annotations

import sys
from pathlib import Path

from relay import session as sessions
from relay.commands.run import UsageError, read_event


def lambda_client(mode: str, region: str, endpoint: str | None):
    """A boto3 Lambda client for a live stage; local mode uses the emulator's keys."""
    import boto3
    from botocore.config import Config

    config = Config(read_timeout=960, retries={"max_attempts": 0}, connect_timeout=5)
    if mode == "local":
        from relay.emulator import LOCAL_CREDENTIALS

        return boto3.client(
            "lambda",
            region_name=region,
            endpoint_url=endpoint,
            config=config,
            **LOCAL_CREDENTIALS.boto3_kwargs(),
        )
    return boto3.client("lambda", region_name=region, config=config)


def invoke_command(*, function: str, event: str | None, stage: str, project: Path) -> int:
    try:
        live = sessions.load(project, stage)
        payload = read_event(event)
    except (sessions.SessionError, UsageError) as exc:
        print(f"relay: error: {exc}", file=sys.stderr)
        return 2
    target = live.find(function)
    if target is None:
        names = ", ".join(f.path for f in live.functions) or "none"
        print(
            f"relay: error: no function '{function}' in stage '{stage}'. Live functions: {names}.",
            file=sys.stderr,
        )
        return 2
    from botocore.exceptions import BotoCoreError, ClientError

    client = lambda_client(live.mode, live.region, live.lambda_endpoint)
    try:
        response = client.invoke(FunctionName=target.function_name, Payload=payload)
    except (BotoCoreError, ClientError) as exc:
        where = live.lambda_endpoint or f"Lambda in {live.region}"
        print(
            f"relay: error: invoking {target.function_name} through {where} failed: {exc}. "
            f"Is `{sessions.start_command_for(project, stage)}` running?",
            file=sys.stderr,
        )
        return 2
    body = response["Payload"].read()
    sys.stdout.buffer.write(body + b"\n")
    sys.stdout.flush()
    return 1 if response.get("FunctionError") else 0
