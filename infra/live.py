"""Live mode: an Aspect that swaps every Python Lambda function of an app for relay's stub.

The function keeps its role, VPC, layers, triggers and environment, so the stub runs with
exactly the identity and wiring the real code would have; it gains the ``RELAY_*`` variables
(plain strings from the deployed debug stack, never cross-stack references, so the debug
stack can be removed on its own) and the least permissions the stub needs.

An unmodified app is put in live mode by relay itself (relay/cloud/synth_hook.py hooks
``App.synth``); an app may also opt in by code with one line: ``relay.cdk.live.enable(app)``.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
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
#: observe mode's wrapper (relay.observe.HANDLER; the Aspect runs without relay imported)
OBSERVE_HANDLER = "relay_observe.handler"
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
    #: the node path of the stack that holds the function (a NestedStack's own path)
    stack_path: str = ""
    #: logical ids from the top-level stack down to the function's NestedStack (empty if none)
    nested: list[str] = field(default_factory=list)
    #: the nested stack's template file in the assembly (NestedStack functions)
    template_file: str | None = None
    #: said once at start (e.g. "edits go to the build copy ...")
    note: str | None = None


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


#: Reasons a function is left alone, said once and quietly (they are not problems).
CDK_OWN = "CDK's own"
DEPLOY_TIME = "runs during deployment"
EDGE = "Lambda@Edge"
_CDK_CODE_MARKERS = (f"{os.sep}node_modules{os.sep}", f"{os.sep}jsii-kernel-")
#: Folders that hold a build's copy of the code, not the code the developer edits.
_BUILD_DIRS = {".build", "build", "dist", ".dist", ".aws-sam", "out"}


class _Assets:
    """Asset stagings of the app, by staged path: where each asset's code came from.

    CDK stages one asset for a ``Code.from_asset`` object however many functions use it, and
    records ``aws:asset:path`` on every function that uses it; so a function's code is
    found from that metadata, never from which construct happens to hold the asset.
    """

    def __init__(self, root: IConstruct) -> None:
        self.root = root
        self.by_staged: dict[str, cdk.AssetStaging] = {}

    def scan(self) -> None:
        for node in self.root.node.find_all():
            if isinstance(node, cdk.AssetStaging):
                self.by_staged[os.path.normpath(node.absolute_staged_path)] = node

    def staging_for(self, resource: cdk.CfnResource) -> cdk.AssetStaging | None:
        staged = resource.get_metadata("aws:asset:path")
        if not isinstance(staged, str):
            return None
        outdir = cdk.Stage.of(resource).outdir  # type: ignore[union-attr]
        key = os.path.normpath(os.path.join(outdir, staged))
        if key not in self.by_staged:
            self.scan()  # new assets since the last scan (each scan walks the whole tree)
        return self.by_staged.get(key)


def _source_of(staging: cdk.AssetStaging) -> str:
    return str(Path(staging.source_path).resolve())


def _is_cdk_code(*paths: str) -> bool:
    """Code shipped inside a library (aws-cdk-lib's handlers), not the app's own."""
    return any(marker in path for path in paths for marker in _CDK_CODE_MARKERS)


def edited_folder(source: str, root: Path | None = None) -> tuple[str, str | None]:
    """The folder the developer edits for ``source``, and a note when that is not known.

    A build step's copy inside the app (``.build/orders``) maps back to the source folder
    with the same path outside the build folder when that exists (``orders`` or
    ``src/orders``); otherwise edits must go to the copy, and relay says so. ``root``: the
    app's folder (the app runs there); folders above it never count as build folders.
    """
    root = (root or Path.cwd()).resolve()
    path = Path(source)
    try:
        parts = path.resolve().relative_to(root).parts
    except ValueError:
        return source, None
    for i, part in enumerate(parts):
        if part not in _BUILD_DIRS:
            continue
        base, rest = root.joinpath(*parts[:i]), parts[i + 1 :]
        for candidate in (base.joinpath(*rest), base.joinpath("src", *rest)) if rest else ():
            if candidate.is_dir():
                return str(candidate), f"runs {candidate} (the source of the build copy {path})"
        return source, f"code is a build copy ({path}): edits must go to the copy to reload"
    return source, None


def _deploy_time_functions(root: IConstruct) -> dict[str, str]:
    """Functions CloudFormation invokes while it deploys, and edge functions: path -> reason.

    Custom-resource providers and Triggers run during the deployment, before any client is
    connected: a stub there would fail or stall the deploy. Lambda@Edge has no environment
    variables, so it cannot be a stub.
    """
    from aws_cdk import aws_cloudfront as cloudfront
    from aws_cdk import custom_resources as cr
    from aws_cdk import triggers

    found: dict[str, str] = {}
    arns: dict[str, str] = {}  # resolved "<stack path> <json>" of each function's ARN -> path
    for node in root.node.find_all():
        if isinstance(node, cr.Provider):
            for handler in (node.on_event_handler, node.is_complete_handler):
                if handler is not None:
                    found[handler.node.path] = DEPLOY_TIME
        elif isinstance(node, triggers.TriggerFunction):
            found[node.node.path] = DEPLOY_TIME
        elif isinstance(node, cloudfront.experimental.EdgeFunction):
            inner = node.node.default_child
            if inner is not None:
                found[inner.node.path] = EDGE
        elif isinstance(node, lambda_.Function):
            stack = cdk.Stack.of(node)
            arns[_token_key(stack, node.function_arn)] = node.node.path
        elif isinstance(node, cloudfront.CfnDistribution):
            for path in _edge_associations(node):
                found[path] = EDGE
    for scope, token in _DEPLOY_TIME_TOKENS:
        if scope.node.root is not root:
            continue
        path = arns.get(_token_key(cdk.Stack.of(scope), token))
        if path is not None:
            found[path] = DEPLOY_TIME
    for handler in _TRIGGER_HANDLERS:
        if handler.node.root is root:
            found[handler.node.path] = DEPLOY_TIME
    return found


def _token_key(stack: cdk.Stack, token: Any) -> str:
    return f"{stack.node.path} {json.dumps(stack.resolve(token), sort_keys=True)}"


def _edge_associations(distribution: Any) -> list[str]:
    """Functions whose versions a CloudFront distribution associates (same stack)."""
    stack = cdk.Stack.of(distribution)
    inspector = cdk.TreeInspector()
    distribution.inspect(inspector)  # the L1's properties (no public getter resolves them)
    props = inspector.attributes.get("aws:cdk:cloudformation:props") or {}
    config = json.dumps(stack.resolve(props))
    if "LambdaFunctionAssociations" not in config and "lambdaFunctionAssociations" not in config:
        return []
    paths = []
    for node in stack.node.find_all():
        if (
            isinstance(node, lambda_.Version)
            and cdk.Stack.of(node) is stack
            and json.dumps(stack.resolve(node.function_arn)) in config
        ):
            paths.append(node.lambda_.node.path)
    return paths


#: (scope, service token) of each ``CustomResource`` the app created (relay's hook records
#: them: CloudFormation calls that token during the deployment).
_DEPLOY_TIME_TOKENS: list[tuple[IConstruct, str]] = []
#: the handlers of each ``triggers.Trigger`` the app created
_TRIGGER_HANDLERS: list[IConstruct] = []


def watch_app_calls(aws_cdk: Any) -> None:
    """Note what the app's own calls say and jsii cannot tell later: whom each
    ``CustomResource`` and ``triggers.Trigger`` invokes during the deployment, and which
    ``Code.from_asset`` folders are bundled. relay's hook calls this as the app imports
    ``aws_cdk``, before the app builds anything."""
    from aws_cdk import triggers

    def wrap(cls: Any, note: Any) -> None:
        original = cls.__init__
        if getattr(original, "_relay", False):
            return

        def __init__(self: Any, scope: Any, id: str, **kwargs: Any) -> None:
            original(self, scope, id, **kwargs)
            note(self, kwargs)

        __init__._relay = True  # type: ignore[attr-defined]
        cls.__init__ = __init__

    wrap(
        aws_cdk.CustomResource,
        lambda self, kw: _DEPLOY_TIME_TOKENS.append((self, kw.get("service_token"))),
    )
    wrap(triggers.Trigger, lambda _self, kw: _TRIGGER_HANDLERS.append(kw["handler"]))

    original_from_asset = lambda_.Code.from_asset
    if not getattr(original_from_asset, "_relay", False):

        def from_asset(path: str, **kwargs: Any) -> Any:
            if kwargs.get("bundling") is not None:
                _BUNDLED_SOURCES.add(str(Path(path).resolve()))
            return original_from_asset(path, **kwargs)

        from_asset._relay = True  # type: ignore[attr-defined]
        lambda_.Code.from_asset = staticmethod(from_asset)  # type: ignore[method-assign]


#: Source folders of ``Code.from_asset(..., bundling=...)`` (their bundling is skipped in
#: live synthesis; a function deployed unchanged from one needs its stack bundled).
_BUNDLED_SOURCES: set[str] = set()
#: Constructs that always bundle their code (Docker or esbuild).
_BUNDLING_CLASSES = {"PythonFunction", "PythonLayerVersion", "NodejsFunction", "GoFunction"}


def _bundles(fn: lambda_.Function, staging: cdk.AssetStaging | None) -> bool:
    if any(cls.__name__ in _BUNDLING_CLASSES for cls in type(fn).__mro__):
        return True
    return staging is not None and _source_of(staging) in _BUNDLED_SOURCES


@jsii.implements(cdk.IAspect)
class LiveAspect:
    """Swaps each of the developer's Python functions for the stub and records what it was."""

    def __init__(self, config: LiveConfig) -> None:
        self.config = config
        self.functions: list[FunctionRecord] = []
        #: "<stack path>/<logical id>" -> {"dir": source folder, "python_root": bool}
        self.layers: dict[str, dict[str, Any]] = {}
        self._stub_assets: dict[str, s3_assets.Asset] = {}
        self._observe_layers: dict[str, lambda_.LayerVersion] = {}
        self._seen: set[str] = set()
        self._indexes: dict[str, live_fit.StackIndex] = {}
        self._relayed: set[str] = set()
        #: staged paths (content) of the swapped functions' own code, and of the code of the
        #: functions deployed as they are: two stagings of one folder share a staged path
        self._code_of_relayed: set[str] = set()
        self._code_of_others: set[str] = set()
        self._pending_versions: dict[str, list[lambda_.Version | lambda_.Alias]] = {}
        self._assets: _Assets | None = None
        self._left_alone: dict[str, str] | None = None
        #: stack node path -> functions deployed unchanged from bundled code (AWS mode
        #: bundles these stacks only; live synthesis skips bundling everywhere else)
        self.bundle: dict[str, list[str]] = {}

    def _scan(self, node: IConstruct) -> None:
        """The whole app once, at the first visit: assets and functions not to swap."""
        root = node.node.root
        self._assets = _Assets(root)
        self._assets.scan()
        self._left_alone = _deploy_time_functions(root)

    def visit(self, node: IConstruct) -> None:
        if node.node.path in self._seen:
            return
        if self._assets is None:
            self._scan(node)
        if isinstance(node, lambda_.LayerVersion):
            self._seen.add(node.node.path)
            self._record_layer(node)
        elif isinstance(node, lambda_.Function):
            self._seen.add(node.node.path)
            cfn = node.node.default_child
            own = self._assets.staging_for(cfn) if isinstance(cfn, cdk.CfnResource) else None
            record = self._swap(node)  # (a swapped function's metadata names the stub after)
            self.functions.append(record)
            swapped = record.relayed and self.config.observe is None
            if own is not None:
                owners = self._code_of_relayed if swapped else self._code_of_others
                owners.add(os.path.normpath(own.absolute_staged_path))
            if swapped:  # observed: real retries stay, and the real code is deployed
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

    def _record_layer(self, layer: lambda_.LayerVersion) -> None:
        assert self._assets is not None
        cfn = layer.node.default_child
        if not isinstance(cfn, cdk.CfnResource):
            return
        staging = self._assets.staging_for(cfn)
        if staging is None:
            return
        stack = cdk.Stack.of(layer)
        logical = stack.resolve(stack.get_logical_id(cfn))
        self.layers[f"{stack.node.path}/{logical}"] = {
            "dir": _source_of(staging),
            # PythonLayerVersion's entry is what Lambda gets under python/ once bundled
            "python_root": type(layer).__name__ == "PythonLayerVersion",
        }

    def _swap(self, fn: lambda_.Function) -> FunctionRecord:
        assert self._assets is not None and self._left_alone is not None
        stack = cdk.Stack.of(fn)
        cfn = fn.node.default_child
        assert isinstance(cfn, lambda_.CfnFunction)
        top, nested = _top_stack(stack)
        record = FunctionRecord(
            path=fn.node.path,
            stack=top.node.path,
            logical_id=stack.resolve(stack.get_logical_id(cfn)),
            runtime=fn.runtime.name,
            relayed=False,
            handler=cfn.handler,
            timeout=int(cfn.timeout or 3),
            memory=int(cfn.memory_size or 128),
            layers=[_ref(layer) for layer in (stack.resolve(cfn.layers) or [])],
            stack_path=stack.node.path,
            nested=nested,
            template_file=stack.template_file if nested else None,
        )
        record.reason = self._reason_to_leave(fn, cfn, record)
        if record.reason is not None:
            self._note_bundling(fn, cfn, stack, record.reason)
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
            self._note_bundling(fn, cfn, stack, record.reason)
            return record
        record.warnings.extend(w for w in (warning, live_fit.route_out_warning(index, fn)) if w)
        if self.config.observe is not None:
            self._observe(fn, cfn, stack, record, added)
            return record

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

    def _observe(
        self,
        fn: lambda_.Function,
        cfn: lambda_.CfnFunction,
        stack: cdk.Stack,
        record: FunctionRecord,
        added: dict[str, str],
    ) -> None:
        """Observe mode: the real code keeps serving, wrapped by ``relay_observe`` (a layer);
        its timeout and retries stay the function's own."""
        assert self.config.observe_layer_dir, "observe mode needs the observe layer"
        key = stack.node.path
        layer = self._observe_layers.get(key)
        if layer is None:
            layer = self._observe_layers[key] = lambda_.LayerVersion(
                stack,
                "RelayObserveLayer",
                code=lambda_.Code.from_asset(self.config.observe_layer_dir),
            )
        fn.add_layers(layer)
        cfn.handler = OBSERVE_HANDLER
        added = {**added, "RELAY_OBSERVE_SAMPLE": repr(self.config.observe)}
        for name, value in added.items():
            fn.add_environment(name, value)
        record.added_environment = sorted(added)
        _acknowledge_wildcards(fn, self.config.targets)
        self._note_bundling(fn, cfn, stack, "observed: deployed with its own code")
        record.relayed = True

    def _note_bundling(
        self, fn: lambda_.Function, cfn: lambda_.CfnFunction, stack: cdk.Stack, reason: str
    ) -> None:
        """A function of the app's own deployed unchanged from bundled code: its stack must
        be bundled for a deploy (CDK decides bundling per stack)."""
        assert self._assets is not None
        if reason == CDK_OWN:
            return
        if _bundles(fn, self._assets.staging_for(cfn)):
            self.bundle.setdefault(stack.node.path, []).append(fn.node.path)

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

    def _reason_to_leave(
        self, fn: lambda_.Function, cfn: lambda_.CfnFunction, record: FunctionRecord
    ) -> str | None:
        """Why ``fn`` keeps its code (None: relay it), filling in where its code is."""
        assert self._assets is not None and self._left_alone is not None
        staging = self._assets.staging_for(cfn)
        if staging is not None and _is_cdk_code(staging.source_path, _source_of(staging)):
            return CDK_OWN
        left_alone = self._left_alone.get(fn.node.path)
        if left_alone is not None:
            return left_alone
        code = cfn.code
        image = getattr(code, "image_uri", None) if code is not None else None
        if image is not None or fn.runtime.name == "FROM_IMAGE":
            return (
                "container image: relay runs handlers from a code folder, and an image's "
                "handler and packages exist only inside the image"
            )
        if fn.runtime.family != lambda_.RuntimeFamily.PYTHON:
            return f"runtime {fn.runtime.name}: relay runs Python handlers only"
        if not cfn.handler:
            return "no handler set"
        if staging is not None:
            record.code_dir, record.note = edited_folder(_source_of(staging))
            return None
        inline = getattr(code, "zip_file", None) if code is not None else None
        if isinstance(inline, str):
            if cdk.Token.is_unresolved(inline):
                return "inline code built from tokens: its source is only known at deploy time"
            record.code_dir = str(_materialise_inline(fn, inline))
            record.note = f"inline code written to {record.code_dir}/index.py"
            return None
        return "code in S3 (Code.from_bucket): there is no local folder to run"

    def _stub_asset(self, stack: cdk.Stack) -> s3_assets.Asset:
        """One stub asset per stack: every stubbed function shares the same code object."""
        key = stack.node.path
        if key not in self._stub_assets:
            self._stub_assets[key] = s3_assets.Asset(
                stack, "RelayStubCode", path=self.config.stub_dir
            )
        return self._stub_assets[key]

    def asset_sources(self) -> dict[str, list[str]]:
        """Folders of the relayed functions' code (not deployed: the stub runs in their place)
        and of every other asset, which is deployed as it is."""
        root = self._assets.root if self._assets is not None else None
        stagings = [
            n for n in (root.node.find_all() if root is not None else [])
            if isinstance(n, cdk.AssetStaging)
        ]  # fmt: skip
        # A swapped function's asset is a child of the function that bound its Code first
        # (a layer's, a bucket deployment's are not), and no function deployed as it is
        # uses the same content.
        under = tuple(f"{path}/" for path in self._relayed)
        relayed: set[str] = set()
        other: set[str] = set()
        for staging in stagings:
            staged = os.path.normpath(staging.absolute_staged_path)
            own = (
                staged in self._code_of_relayed
                and staged not in self._code_of_others
                and staging.node.path.startswith(under)
            )
            (relayed if own else other).add(_source_of(staging))
        return {"relayed_sources": sorted(relayed), "other_sources": sorted(other)}

    def record(self) -> dict[str, Any]:
        return {
            "stage": self.config.stage,
            "increase_timeout": self.config.increase_timeout,
            "functions": [asdict(f) for f in self.functions],
            "layers": self.layers,
            "bundle": self.bundle,
        }


def _top_stack(stack: cdk.Stack) -> tuple[cdk.Stack, list[str]]:
    """The deployed (top-level) stack of ``stack`` and the NestedStack logical ids down to it."""
    chain: list[str] = []
    while stack.nested_stack_parent is not None:
        parent = stack.nested_stack_parent
        resource = stack.nested_stack_resource
        assert resource is not None
        chain.insert(0, parent.resolve(parent.get_logical_id(resource)))  # type: ignore[arg-type]
        stack = parent
    return stack, chain


def _materialise_inline(fn: lambda_.Function, source: str) -> Path:
    """Inline code as a file under .relay/inline/, so breakpoints and tracebacks work.

    Lambda names an inline Python function's file ``index.py``.
    """
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in fn.node.path)
    folder = Path.cwd() / ".relay" / "inline" / safe
    target = folder / "index.py"
    if not target.is_file() or target.read_text() != source:
        folder.mkdir(parents=True, exist_ok=True)
        ignore = Path.cwd() / ".relay" / ".gitignore"
        if not ignore.exists():
            ignore.write_text("*\n")
        target.write_text(source)
    return folder.resolve()


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
    # CDK does not carry Aspects across Stage boundaries: each Stage gets it too.
    stages = [n for n in app.node.find_all() if isinstance(n, cdk.Stage) and n is not app]
    for scope in [app, *stages]:
        if scope is app or getattr(scope, _ENABLED, None) is None:
            cdk.Aspects.of(scope).add(aspect, priority=cdk.AspectPriority.MUTATING)
            object.__setattr__(scope, _ENABLED, aspect)
    original_synth = app.synth

    def synth(**kwargs: Any) -> Any:
        assembly = original_synth(**kwargs)
        write_record(aspect, Path(assembly.directory))
        return assembly

    object.__setattr__(app, "synth", synth)
    return aspect


def write_record(aspect: LiveAspect, assembly_dir: Path) -> None:
    record = aspect.record()
    hook = sys.modules.get("relay.cloud.synth_hook")  # loaded when relay runs the app
    read = hook.read_files(os.getcwd()) if hook is not None else None
    if read is not None:
        sources = aspect.asset_sources()
        within = tuple(os.path.join(d, "") for d in sources["relayed_sources"])
        record["inputs"] = {**sources, "read": [f for f in read if f.startswith(within)]}
    (assembly_dir / RECORD_FILE).write_text(json.dumps(record, indent=1))
