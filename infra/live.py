"""Live mode: an Aspect that swaps every Python Lambda function of an app for relay's stub.

The function keeps its role, VPC, layers, triggers and environment, so the stub runs with
exactly the identity and wiring the real code would have; it gains the ``RELAY_*`` variables
(plain strings from the deployed debug stack, never cross-stack references, so the debug
stack can be removed on its own) and the least permissions the stub needs.

An unmodified app is put in live mode by relay itself (relay/cloud/synth.py hooks ``App.synth``);
an app may also opt in by code with one line: ``relay.cdk.live.enable(app)``.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3_assets as s3_assets
from constructs import IConstruct

from . import live_fit
from .live_config import CONFIG_ENV, LiveConfig, LiveTargets

__all__ = ["CONFIG_ENV", "LiveConfig", "LiveTargets"]  # defined CDK-free in live_config

#: Written into the cloud assembly after synthesis; relay/cloud/synth.py completes it.
RECORD_FILE = "relay-live.json"
STUB_HANDLER = "stub.handler"
#: Lambda's maximum; only non-HTTP triggers benefit (API Gateway gives up at 29-30 s).
INCREASED_TIMEOUT = 900


@dataclass
class FunctionRecord:
    """What relay needs to run a function locally; environment is filled in after synthesis."""

    path: str
    stack: str  # the stack's artifact id in the cloud assembly
    logical_id: str
    runtime: str
    relayed: bool
    reason: str | None = None
    handler: str | None = None
    code_dir: str | None = None
    timeout: int = 3
    memory: int = 128
    layers: list[str] = field(default_factory=list)  # logical ids of LayerVersions
    added_environment: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def relay_environment(config: LiveConfig, path: str, handler: str) -> dict[str, str]:
    """The stub's variables (docs/architecture.md, "Stub <-> client")."""
    t = config.targets
    return {
        "RELAY_STAGE": config.stage,
        "RELAY_WS_URL": t.websocket_url,
        "RELAY_CONNECTIONS_ENDPOINT": t.connections_endpoint,
        "RELAY_BUCKET": t.bucket,
        "RELAY_REGION": t.region,
        "RELAY_FUNCTION_PATH": path,
        "RELAY_ORIGINAL_HANDLER": handler,
    }


def _resources(targets: LiveTargets) -> tuple[str, str, str]:
    """($connect route, the stage's connections, overflow objects) as ARNs."""
    api = f"{targets.execute_api_arn}/{targets.api_stage}"
    partition = targets.execute_api_arn.split(":")[1]
    return (
        f"{api}/$connect",
        f"{api}/POST/@connections/*",
        f"arn:{partition}:s3:::{targets.bucket}/*",
    )


def stub_statements(targets: LiveTargets) -> list[iam.PolicyStatement]:
    """Least permissions of a stub: connect, post on its stage's connections, overflow bucket."""
    connect, connections, overflow = _resources(targets)
    return [
        iam.PolicyStatement(
            sid="RelayConnect", actions=["execute-api:Invoke"], resources=[connect]
        ),
        iam.PolicyStatement(
            sid="RelayConnections",
            actions=["execute-api:ManageConnections"],
            resources=[connections],
        ),
        iam.PolicyStatement(
            sid="RelayOverflow",
            actions=["s3:GetObject", "s3:PutObject"],
            resources=[overflow],
        ),
    ]


def _source_dir(construct: IConstruct) -> str | None:
    """The folder the asset was staged from (the developer's code, not the cdk.out copy)."""
    code = construct.node.try_find_child("Code")
    if not isinstance(code, s3_assets.Asset):
        return None
    staging = code.node.try_find_child("Stage")
    if not isinstance(staging, cdk.AssetStaging):
        return None
    return str(Path(staging.source_path).resolve())


@jsii.implements(cdk.IAspect)
class LiveAspect:
    """Swaps each Python ``lambda.Function`` for the stub and records what it was."""

    def __init__(self, config: LiveConfig) -> None:
        self.config = config
        self.functions: list[FunctionRecord] = []
        self.layers: dict[str, str] = {}  # "<stack>/<logical id>" -> source dir
        self._stub_assets: dict[str, s3_assets.Asset] = {}
        self._seen: set[str] = set()
        self._indexes: dict[str, live_fit.StackIndex] = {}
        self._relayed: set[str] = set()
        self._pending_versions: dict[str, list[lambda_.Version | lambda_.Alias]] = {}

    def visit(self, node: IConstruct) -> None:
        if node.node.path in self._seen:
            return
        if isinstance(node, lambda_.LayerVersion):
            self._seen.add(node.node.path)
            source = _source_dir(node)
            cfn = node.node.default_child
            if source and isinstance(cfn, cdk.CfnResource):
                stack = cdk.Stack.of(node)
                self.layers[f"{stack.artifact_id}/{stack.resolve(stack.get_logical_id(cfn))}"] = (
                    source
                )
        elif isinstance(node, lambda_.Function):
            self._seen.add(node.node.path)
            record = self._swap(node)
            self.functions.append(record)
            if record.relayed:
                self._relayed.add(node.node.path)
                for version in self._pending_versions.pop(node.node.path, []):
                    live_fit.no_async_retries(version)
        elif isinstance(node, (lambda_.Version, lambda_.Alias)):
            self._seen.add(node.node.path)
            owner = live_fit.function_of(node)
            if owner in self._relayed:
                live_fit.no_async_retries(node)
            elif owner is not None:
                self._pending_versions.setdefault(owner, []).append(node)

    def _swap(self, fn: lambda_.Function) -> FunctionRecord:
        stack = cdk.Stack.of(fn)
        cfn = fn.node.default_child
        assert isinstance(cfn, lambda_.CfnFunction)
        record = FunctionRecord(
            path=fn.node.path,
            stack=stack.artifact_id,
            logical_id=stack.resolve(stack.get_logical_id(cfn)),
            runtime=fn.runtime.name,
            relayed=False,
            handler=cfn.handler,
            timeout=int(cfn.timeout or 3),
            memory=int(cfn.memory_size or 128),
            layers=[_ref(layer) for layer in (stack.resolve(cfn.layers) or [])],
        )
        if fn.runtime.family != lambda_.RuntimeFamily.PYTHON:
            record.reason = f"runtime {fn.runtime.name}: relay runs Python handlers only"
            return record
        record.code_dir = _source_dir(fn)
        if record.code_dir is None or not cfn.handler:
            record.reason = "code is not a local folder asset (inline, image or S3 code)"
            return record

        index = self._index(stack)
        added = relay_environment(self.config, fn.node.path, record.handler or "")
        variables = live_fit.environment_of(fn)
        statements = stub_statements(self.config.targets)
        blocked, warning = live_fit.boundary_problem(
            index, fn, [a for s in statements for a in s.actions]
        )
        record.reason = (
            live_fit.environment_problem(variables, added)
            or blocked
            or live_fit.grant(fn, statements)
        )
        if record.reason is not None:
            return record
        record.warnings.extend(w for w in (warning, live_fit.route_out_warning(index, fn)) if w)

        asset = self._stub_asset(stack)
        cfn.code = lambda_.CfnFunction.CodeProperty(
            s3_bucket=asset.s3_bucket_name, s3_key=asset.s3_object_key
        )
        asset.add_resource_metadata(cfn, "Code")
        cfn.handler = STUB_HANDLER
        for key, value in added.items():
            fn.add_environment(key, value)
        record.added_environment = sorted(added)
        _acknowledge_wildcards(fn, self.config.targets)
        live_fit.no_async_retries(fn)
        self._fit_timeout(cfn, record, index)
        record.relayed = True
        return record

    def _fit_timeout(
        self, cfn: lambda_.CfnFunction, record: FunctionRecord, index: live_fit.StackIndex
    ) -> None:
        """``--increase-timeout``: 900 s for the stub, its SQS queues waiting as long; the
        recorded timeout stays the function's."""
        if not self.config.increase_timeout:
            warning = live_fit.timeout_warning(record.timeout)
            if warning:
                record.warnings.append(warning)
            return
        cannot = live_fit.fit_queues(index, record.logical_id, INCREASED_TIMEOUT)
        if cannot is not None:
            record.warnings.append(f"its timeout stays {record.timeout} s: {cannot}")
            return
        cfn.timeout = INCREASED_TIMEOUT

    def _index(self, stack: cdk.Stack) -> live_fit.StackIndex:
        key = stack.node.path
        if key not in self._indexes:
            self._indexes[key] = live_fit.StackIndex.of(stack)
        return self._indexes[key]

    def _stub_asset(self, stack: cdk.Stack) -> s3_assets.Asset:
        """One stub asset per stack: every stubbed function shares the same code object."""
        key = stack.node.path
        if key not in self._stub_assets:
            self._stub_assets[key] = s3_assets.Asset(
                stack, "RelayStubCode", path=self.config.stub_dir
            )
        return self._stub_assets[key]

    def record(self) -> dict[str, Any]:
        return {
            "stage": self.config.stage,
            "increase_timeout": self.config.increase_timeout,
            "functions": [asdict(f) for f in self.functions],
            "layers": self.layers,
        }


def _ref(value: Any) -> str:
    """Logical id of ``{"Ref": id}`` (layer ARNs of imported layers are kept as given)."""
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    return json.dumps(value) if not isinstance(value, str) else value


def _acknowledge_wildcards(fn: lambda_.Function, targets: LiveTargets) -> None:
    """The stub's two wildcards are as narrow as AWS allows; say so to cdk-nag users."""
    _, connections, overflow = _resources(targets)
    reasons = {
        connections: "connection ids are only known at run time; limited to the stage's API",
        overflow: "overflow object keys are per message; limited to the stage's own bucket",
    }
    scopes: list[IConstruct] = [fn]
    if isinstance(fn.role, iam.Role) and not fn.role.node.path.startswith(fn.node.path + "/"):
        scopes.append(fn.role)  # a role passed in: its DefaultPolicy lives under it
    for (resource, reason), scope in itertools.product(reasons.items(), scopes):
        cdk.Validations.of(scope).acknowledge(
            cdk.Acknowledgment(
                id=f"AwsSolutions::AwsSolutions-IAM5[Resource::{resource}]",
                reason=f"relay live mode: {reason}",
            )
        )


_ENABLED = "_relay_live_aspect"


def enable(app: cdk.Stage, config: LiveConfig | None = None) -> LiveAspect | None:
    """Put ``app`` in live mode when relay runs it; a no-op under plain ``cdk deploy``.

    Call once before ``app.synth()``. Idempotent: relay's own hook finds it already done.
    """
    existing = getattr(app, _ENABLED, None)
    if existing is not None:
        return existing
    config = config or LiveConfig.from_env()
    if config is None:
        return None
    aspect = LiveAspect(config)
    cdk.Aspects.of(app).add(aspect, priority=cdk.AspectPriority.MUTATING)
    object.__setattr__(app, _ENABLED, aspect)
    original_synth = app.synth

    def synth(**kwargs: Any) -> Any:
        assembly = original_synth(**kwargs)
        write_record(aspect, Path(assembly.directory))
        return assembly

    object.__setattr__(app, "synth", synth)
    return aspect


def write_record(aspect: LiveAspect, assembly_dir: Path) -> None:
    (assembly_dir / RECORD_FILE).write_text(json.dumps(aspect.record(), indent=1))
