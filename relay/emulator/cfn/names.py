"""The names and attributes CloudFormation would give a stack's resources, and its exports."""

from __future__ import annotations

import hashlib
import re

from relay.emulator.cfn.stack import Stack


def suffix(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:12].upper()


def physical_name(stack: Stack, logical_id: str, limit: int = 64) -> str:
    """CloudFormation-style generated names: ``<stack>-<logical id>-<suffix>``."""
    tail = suffix(stack.name, logical_id)
    head = f"{stack.name}-{logical_id}"[: limit - len(tail) - 1]
    return f"{head}-{tail}"


def bucket_name(stack: Stack, logical_id: str) -> str:
    raw = f"{stack.name}-{logical_id}".lower()
    raw = re.sub(r"[^a-z0-9-]", "-", raw)[:48].strip("-")
    return f"{raw}-{suffix(stack.name, logical_id).lower()}"


def name_resources(stack: Stack, region: str, account: str) -> None:
    """Physical names and attributes first, so any resource may refer to any other."""
    for logical, resource in stack.template.get("Resources", {}).items():
        kind, props = resource.get("Type", ""), resource.get("Properties", {})
        if kind == "AWS::DynamoDB::Table":
            name = props.get("TableName") or physical_name(stack, logical, 255)
            arn = f"arn:aws:dynamodb:{region}:{account}:table/{name}"
            stack.refs[logical] = name
            stack.attrs[(logical, "Arn")] = arn
            stack.attrs[(logical, "StreamArn")] = f"{arn}/stream/1970-01-01T00:00:00.000"
        elif kind == "AWS::S3::Bucket":
            name = props.get("BucketName") or bucket_name(stack, logical)
            stack.refs[logical] = name
            stack.attrs[(logical, "Arn")] = f"arn:aws:s3:::{name}"
            stack.attrs[(logical, "DomainName")] = f"{name}.s3.amazonaws.com"
            stack.attrs[(logical, "RegionalDomainName")] = f"{name}.s3.{region}.amazonaws.com"
        elif kind == "AWS::Lambda::Function":
            name = props.get("FunctionName") or physical_name(stack, logical)
            stack.refs[logical] = name
            stack.attrs[(logical, "Arn")] = f"arn:aws:lambda:{region}:{account}:function:{name}"
        elif kind == "AWS::IAM::Role":
            name = props.get("RoleName") or physical_name(stack, logical)
            stack.refs[logical] = name
            stack.attrs[(logical, "Arn")] = f"arn:aws:iam::{account}:role/{name}"
            stack.attrs[(logical, "RoleId")] = f"AROA{suffix(stack.name, logical)}"
        elif kind == "AWS::Lambda::LayerVersion":
            stack.refs[logical] = (
                f"arn:aws:lambda:{region}:{account}:layer:{physical_name(stack, logical)}:1"
            )
