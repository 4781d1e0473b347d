"""What a stubbed function needs to work in AWS, decided at synthesis.

The live Aspect (``infra/live.py``) swaps a function for the stub; this module adjusts what
the stub needs around it and says plainly when it cannot work: a timeout that fits a cold
stub (and the SQS queues that must then wait longer), Lambda's 4 KB environment limit, a
role relay can grant to, no async retries on versions and aliases either, and a route out
of the function's subnets.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs

#: A cold stub opens its WebSocket (a possibly cold $connect handler behind it), asks for
#: the client, and waits up to 3 s for one: below this, CDK's default 3 s included, a cold
#: start can run out of time. The stub's timeout is the function's own (a timeout raised
#: while live would change what a timing-out handler's caller sees), so relay warns.
MIN_STUB_TIMEOUT = 10
#: Lambda's limit on all environment variables together (keys and values).
ENVIRONMENT_LIMIT = 4096
#: SQS's default visibility timeout, when a queue does not set one.
SQS_DEFAULT_VISIBILITY = 30


def timeout_warning(timeout: int) -> str | None:
    """The once-per-function warning for a timeout too short for a cold stub."""
    if timeout >= MIN_STUB_TIMEOUT:
        return None
    return (
        f"its timeout ({timeout} s) leaves a cold stub little time to connect and find "
        f"`relay start` (up to ~{MIN_STUB_TIMEOUT} s): expect Lambda timeouts on cold starts; "
        f"give it {MIN_STUB_TIMEOUT} s or more, or use `relay start --increase-timeout`"
    )


@dataclass
class StackIndex:
    """The constructs of one stack the checks look up by logical id (built once per stack)."""

    stack: cdk.Stack
    queues: dict[str, sqs.CfnQueue] = field(default_factory=dict)
    mappings: list[lambda_.CfnEventSourceMapping] = field(default_factory=list)
    routes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # route table id
    subnet_tables: dict[str, str] = field(default_factory=dict)  # subnet id -> route table
    policies: dict[str, iam.CfnManagedPolicy] = field(default_factory=dict)

    @classmethod
    def of(cls, stack: cdk.Stack) -> StackIndex:
        index = cls(stack)
        for node in stack.node.find_all():
            if cdk.Stack.of(node) is not stack:
                continue  # nested stacks index themselves
            if isinstance(node, sqs.CfnQueue):
                index.queues[index.logical_id(node)] = node
            elif isinstance(node, lambda_.CfnEventSourceMapping):
                index.mappings.append(node)
            elif isinstance(node, ec2.CfnRoute):
                table = json.dumps(stack.resolve(node.route_table_id), sort_keys=True)
                index.routes.setdefault(table, []).append(stack.resolve(_route_props(node)))
            elif isinstance(node, ec2.CfnSubnetRouteTableAssociation):
                subnet = json.dumps(stack.resolve(node.subnet_id), sort_keys=True)
                index.subnet_tables[subnet] = json.dumps(
                    stack.resolve(node.route_table_id), sort_keys=True
                )
            elif isinstance(node, iam.CfnManagedPolicy):
                index.policies[index.logical_id(node)] = node
        return index

    def logical_id(self, node: cdk.CfnElement) -> str:
        return str(self.stack.resolve(self.stack.get_logical_id(node)))


def _route_props(route: ec2.CfnRoute) -> dict[str, Any]:
    return {
        "destination": route.destination_cidr_block,
        "nat": route.nat_gateway_id,
        "transit": route.transit_gateway_id,
        "instance": route.instance_id,
        "eni": route.network_interface_id,
    }


def function_properties(fn: lambda_.Function) -> dict[str, Any]:
    """The function's CloudFormation properties as far as synthesis knows them (camelCase).

    The L2 renders environment and VPC lazily; the CfnFunction's own getters show them empty.
    """
    cfn = fn.node.default_child
    assert isinstance(cfn, lambda_.CfnFunction)
    return cdk.Stack.of(fn).resolve(cfn._cfn_properties) or {}


def environment_of(fn: lambda_.Function) -> dict[str, Any]:
    return (function_properties(fn).get("environment") or {}).get("variables") or {}


# --- timeout and SQS --------------------------------------------------------------------


def fit_queues(index: StackIndex, fn_logical_id: str, timeout: int) -> str | None:
    """Raise the visibility timeout of the SQS queues that trigger the function to at least
    ``timeout`` (Lambda refuses a queue trigger whose visibility is shorter).

    Returns why the timeout cannot be raised (a queue defined elsewhere), or None.
    """
    stack = index.stack
    for mapping in index.mappings:
        if stack.resolve(mapping.function_name) not in (
            {"Ref": fn_logical_id},
            {"Fn::GetAtt": [fn_logical_id, "Arn"]},
        ):
            continue
        source = stack.resolve(mapping.event_source_arn)
        queue_id = _get_att_arn(source)
        if queue_id in index.queues:
            queue = index.queues[queue_id]
            current = stack.resolve(queue.visibility_timeout)
            visibility = current if isinstance(current, int) else SQS_DEFAULT_VISIBILITY
            if visibility < timeout:
                queue.visibility_timeout = timeout
        elif queue_id is None and ":sqs:" in json.dumps(source):
            return (
                f"its SQS queue {_describe(source)} is not defined in this stack, so relay "
                "cannot raise the queue's visibility timeout with the function's"
            )
    return None


def _get_att_arn(value: Any) -> str | None:
    if isinstance(value, dict) and list(value) == ["Fn::GetAtt"]:
        logical, attribute = value["Fn::GetAtt"]
        return str(logical) if attribute == "Arn" else None
    return None


def _describe(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


# --- environment size -------------------------------------------------------------------


def environment_size(variables: dict[str, Any]) -> tuple[int, int]:
    """(bytes known at synthesis, count of values only known at deploy time)."""
    known, unknown = 0, 0
    for key, value in variables.items():
        known += len(str(key).encode())
        if isinstance(value, str):
            known += len(value.encode())
        else:
            unknown += 1  # a reference (a table name, an ARN): resolved by CloudFormation
    return known, unknown


def environment_problem(variables: dict[str, Any], added: dict[str, str]) -> str | None:
    """Why the function's environment plus relay's variables cannot fit Lambda's 4 KB."""
    known, unknown = environment_size({**variables, **added})
    if known <= ENVIRONMENT_LIMIT:
        return None
    ours, _ = environment_size(added)
    more = f" plus {unknown} value(s) resolved at deploy time" if unknown else ""
    return (
        f"its environment would be {known} bytes{more} with relay's {len(added)} variables "
        f"({ours} bytes), over Lambda's {ENVIRONMENT_LIMIT}-byte limit; move large values "
        "to SSM Parameter Store or Secrets Manager and read them at run time"
    )


# --- the role -----------------------------------------------------------------------------


def grant(fn: lambda_.Function, statements: Iterable[iam.PolicyStatement]) -> str | None:
    """Add the stub's statements to the function's role; why not, when the role is
    immutable (imported with ``mutable=False``) and relay cannot grant them."""
    role = fn.role
    if role is None:
        return "it has no execution role relay can grant the stub's permissions to"
    statements = list(statements)
    for statement in statements:
        role.add_to_principal_policy(statement)  # "added" even when an immutable role drops it
    # A role of the app holds them in its DefaultPolicy; a mutable import gets a Policy.
    if not isinstance(role, iam.Role) and role.node.try_find_child("Policy") is None:
        actions = sorted({a for s in statements for a in s.actions})
        return (
            f"its role {fn.stack.resolve(role.role_name)} is imported as immutable, so relay "
            f"cannot grant the stub {', '.join(actions)}; import it with mutable=True or add "
            "these permissions to the role"
        )
    return None


def boundary_problem(
    index: StackIndex, fn: lambda_.Function, actions: Iterable[str]
) -> tuple[str | None, str | None]:
    """(reason not to relay, warning) for a permissions boundary on the function's role.

    A boundary defined in the app is read: one that allows none of an action the stub needs
    means 403s at run time. One defined elsewhere cannot be read at synthesis: a warning.
    """
    role = fn.role
    cfn = role.node.default_child if isinstance(role, iam.Role) else None
    if not isinstance(cfn, iam.CfnRole) or cfn.permissions_boundary is None:
        return None, None
    stack = cdk.Stack.of(cfn)
    boundary = stack.resolve(cfn.permissions_boundary)
    policy = index.policies.get(str((boundary or {}).get("Ref"))) if isinstance(
        boundary, dict
    ) else None  # fmt: skip
    needed = sorted(set(actions))
    if policy is None:
        return None, (
            f"its role has the permissions boundary {_describe(boundary)}: it must allow "
            f"{', '.join(needed)}, or the stub is refused with 403"
        )
    document = stack.resolve(policy.policy_document) or {}
    blocked = [a for a in needed if not _allows(document, a)]
    if blocked:
        return (
            f"its role's permissions boundary {policy.node.scope.node.path} does not allow "
            f"{', '.join(blocked)}, which the stub needs; allow them in the boundary",
            None,
        )
    return None, None


def _allows(document: dict[str, Any], action: str) -> bool:
    allowed = denied = False
    for statement in _as_list(document.get("Statement")):
        if not isinstance(statement, dict):
            continue
        patterns = [str(p).lower() for p in _as_list(statement.get("Action"))]
        if not any(fnmatch.fnmatchcase(action.lower(), p) for p in patterns):
            continue
        if statement.get("Effect") == "Deny" and "*" in _as_list(statement.get("Resource")):
            denied = True
        elif statement.get("Effect") == "Allow":
            allowed = True
    return allowed and not denied


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# --- async retries on versions and aliases ------------------------------------------------


def no_async_retries(target: lambda_.Function | lambda_.Version | lambda_.Alias) -> None:
    """A retried async event would run the handler twice on the laptop: 0 retries while
    live, on ``$LATEST`` and on every version and alias of a stubbed function."""
    existing = target.node.try_find_child("EventInvokeConfig")
    if existing is not None:
        cfn = existing.node.default_child
        assert isinstance(cfn, cdk.CfnResource)
        cfn.add_property_override("MaximumRetryAttempts", 0)
    else:
        target.configure_async_invoke(retry_attempts=0)


def function_of(node: lambda_.Version | lambda_.Alias) -> str | None:
    """Construct path of the function a version or alias belongs to."""
    version = node.version if isinstance(node, lambda_.Alias) else node
    fn = getattr(version, "lambda_", None)
    return fn.node.path if fn is not None else None


# --- VPC ------------------------------------------------------------------------------------

_ROUTE_OUT = ("nat", "transit", "instance", "eni")


def route_out_warning(index: StackIndex, fn: lambda_.Function) -> str | None:
    """A warning when the function's subnets (defined in this stack) have no route out.

    The stub reaches API Gateway's public WebSocket and @connections endpoints; an
    ``execute-api`` interface endpoint serves private REST APIs only. A function's network
    interfaces have no public IP, so only a NAT (or transit gateway, instance, interface)
    route counts, not an internet gateway.
    """
    config = function_properties(fn).get("vpcConfig")
    if not isinstance(config, dict):
        return None
    closed = []
    for subnet in _as_list(config.get("subnetIds")):
        key = json.dumps(subnet, sort_keys=True)
        table = index.subnet_tables.get(key)
        if table is None:
            continue  # an imported subnet: nothing to read at synthesis
        routes = index.routes.get(table, [])
        if not any(
            r.get("destination") == "0.0.0.0/0" and any(r.get(k) for k in _ROUTE_OUT)
            for r in routes
        ):
            closed.append(subnet.get("Ref") if isinstance(subnet, dict) else str(subnet))
    if not closed:
        return None
    return (
        f"it runs in subnet(s) {', '.join(map(str, closed))} with no route out (no NAT "
        "gateway): its stub cannot reach API Gateway and times out. Give the subnets a NAT "
        "gateway, or leave the function out of the VPC while debugging; an execute-api "
        "interface endpoint does not help (it serves private REST APIs only)"
    )
