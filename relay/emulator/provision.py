"""Provisioning: create a stage's resources in the emulator from the synthesized templates.

The emulator consumes the very templates real AWS would get (debug stack + the app in live
mode), so ``relay start --local`` exercises the same swapping. DynamoDB tables and S3
buckets go to moto; WebSocket APIs and Lambda functions (with their function URLs) to the
emulator. CloudFormation intrinsics in function environments are resolved against what was
created. Resource types the emulator does not model are skipped and listed once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relay.cloud import synth
from relay.emulator.credentials import local_principal_arn
from relay.runtime.config import FunctionConfig
from relay.runtime.layers import local_layer, missing_layer_note

#: Types provisioning creates (or that only matter in real AWS and need nothing locally).
_CREATED = {
    "AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::Lambda::Function", "AWS::Lambda::Url",
    "AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Route", "AWS::ApiGatewayV2::Integration",
    "AWS::ApiGatewayV2::Stage", "AWS::Lambda::LayerVersion", "AWS::CloudFormation::Stack",
}  # fmt: skip
_NOT_NEEDED = {
    "AWS::CDK::Metadata", "AWS::IAM::Role", "AWS::IAM::Policy", "AWS::Lambda::Permission",
    "AWS::Lambda::EventInvokeConfig", "AWS::S3::BucketPolicy", "AWS::IAM::ManagedPolicy",
    "AWS::Logs::LogGroup",  # locally, function logs go to relay's terminal
}  # fmt: skip
_PYTHON = re.compile(r"^python3\.\d+$")
_PLACEHOLDER_TARGETS = "relay-local"


class ProvisionError(Exception):
    """The stage could not be created in the emulator; the message says why and what next."""


class Unresolvable(Exception):
    """A CloudFormation expression refers to something the emulator did not create."""


@dataclass
class ProvisionedFunction:
    path: str  # construct path
    function_name: str
    function_url: str | None
    handler: str  # the original handler
    code_dir: str  # the developer's source folder
    config: FunctionConfig  # for the client's local runtime (original handler and code)


@dataclass
class Provisioned:
    stage: str
    websocket_url: str
    connections_endpoint: str
    bucket: str
    table: str
    region: str
    functions: list[ProvisionedFunction]
    not_relayed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    skipped_types: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # per function, said once at start
    assembly: Path | None = None


@dataclass
class _Stack:
    artifact_id: str
    name: str
    template: dict[str, Any]
    directory: Path
    refs: dict[str, str] = field(default_factory=dict)
    attrs: dict[tuple[str, str], str] = field(default_factory=dict)


class _Resolver:
    """Evaluates Ref / GetAtt / Join / Sub / Select / Split / ImportValue for one stack."""

    def __init__(self, stack: _Stack, region: str, account: str, exports: dict[str, str]):
        self.stack, self.region, self.account, self.exports = stack, region, account, exports

    def pseudo(self, name: str) -> str:
        values = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack.name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account}:stack/"
            f"{self.stack.name}/{_suffix(self.stack.name, 'id')}",
        }
        if name in values:
            return values[name]
        if name in self.stack.refs:
            return self.stack.refs[name]
        parameter = self.stack.template.get("Parameters", {}).get(name)
        if parameter is not None and "Default" in parameter:
            return str(parameter["Default"])
        raise Unresolvable(f"Ref {name}")

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: self(v) for k, v in value.items()}
        ((key, arg),) = value.items()
        if key == "Ref":
            return self.pseudo(arg)
        if key == "Fn::GetAtt":
            logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
            try:
                return self.stack.attrs[(logical, attr)]
            except KeyError:
                raise Unresolvable(f"Fn::GetAtt {logical}.{attr}") from None
        if key == "Fn::Join":
            sep, parts = arg
            return sep.join(str(p) for p in self(parts))
        if key == "Fn::Sub":
            template, variables = (arg, {}) if isinstance(arg, str) else arg
            local = {k: str(self(v)) for k, v in variables.items()}
            return re.sub(r"\$\{([^}!]+)\}", lambda m: self._sub(m.group(1), local), template)
        if key == "Fn::Select":
            index, items = arg
            return self(items)[int(self(index))]
        if key == "Fn::Split":
            sep, text = arg
            return str(self(text)).split(sep)
        if key == "Fn::ImportValue":
            name = self(arg)
            if name not in self.exports:
                raise Unresolvable(f"Fn::ImportValue {name}")
            return self.exports[name]
        if key.startswith("Fn::"):
            raise Unresolvable(key)
        return {key: self(arg)}

    def _sub(self, name: str, local: dict[str, str]) -> str:
        if name in local:
            return local[name]
        if "." in name:
            return str(self({"Fn::GetAtt": name.split(".", 1)}))
        return self.pseudo(name)


def _suffix(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:12].upper()


def _physical_name(stack: _Stack, logical_id: str, limit: int = 64) -> str:
    """CloudFormation-style generated names: ``<stack>-<logical id>-<suffix>``."""
    suffix = _suffix(stack.name, logical_id)
    head = f"{stack.name}-{logical_id}"[: limit - len(suffix) - 1]
    return f"{head}-{suffix}"


def _bucket_name(stack: _Stack, logical_id: str) -> str:
    raw = f"{stack.name}-{logical_id}".lower()
    raw = re.sub(r"[^a-z0-9-]", "-", raw)[:48].strip("-")
    return f"{raw}-{_suffix(stack.name, logical_id).lower()}"


def provision(
    emulator: Any,
    *,
    project: Path,
    stage: str,
    increase_timeout: bool = False,
    stub_dir: Path | None = None,
    layer_dirs: dict[str, Path] | None = None,
) -> Provisioned:
    """Synthesize (cached) the debug stack and the app in live mode; create both in ``emulator``.

    ``stub_dir`` defaults to the stub asset (``relay.cloud.stub_asset.build_stub_asset()``).
    """
    from relay.cdk.live_config import LiveConfig, LiveTargets  # CDK-free: no jsii start here

    project = Path(project).resolve()
    if stub_dir is None:
        from relay.cloud.stub_asset import build_stub_asset

        stub_dir = build_stub_asset()
    stage_dir = project / ".relay" / "stages" / stage
    region = getattr(emulator, "region", "us-east-1")
    account = getattr(emulator, "account_id", "123456789012")
    env = {"CDK_DEFAULT_REGION": region, "CDK_DEFAULT_ACCOUNT": account}
    # Only the local developer pair may connect as the stage's client, as on AWS only the
    # developer who ran `relay start` may.
    owner = {"RELAY_CLIENT_PRINCIPAL": local_principal_arn(account)}
    placeholders = LiveTargets.placeholders(stage)
    live = LiveConfig(
        stage=stage, stub_dir=str(stub_dir), targets=placeholders,
        increase_timeout=increase_timeout,
    )  # fmt: skip
    # The two syntheses are independent processes (each starts its own jsii Node): side by
    # side a first start takes about as long as the slower one instead of both.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay-synth") as pool:
        debug_synth = pool.submit(
            synth.synthesize_debug,
            project, stage, stub_dir=Path(stub_dir), out_dir=stage_dir / "cdk.out.debug-local",
            env={**env, **owner}, validation=False,
        )  # fmt: skip
        try:
            app = synth.synthesize(
                project, stage, out_dir=stage_dir / "cdk.out.local", live=live, env=env,
                validation=False,
            )  # fmt: skip
            debug = debug_synth.result()
            records = synth.write_functions(project, stage, app)
        except synth.SynthError as exc:
            raise ProvisionError(str(exc)) from None
    provisioner = _Provisioner(emulator, stage, region, account, placeholders)
    provisioner.layer_dirs = dict(layer_dirs or {})
    return provisioner.run(debug, app, records)


class _Provisioner:
    def __init__(self, emulator: Any, stage: str, region: str, account: str, placeholders: Any):
        self.emu = emulator
        self.stage = stage
        self.region = region
        self.account = account
        self.placeholders = placeholders
        self.skipped: Counter[str] = Counter()
        self._relays_own: set[int] = set()  # id() of the debug stack's _Stack objects
        self.warnings: list[str] = []
        self.exports: dict[str, str] = {}
        self.substitutions: dict[str, str] = {}
        self._clients: dict[str, Any] = {}
        #: --layer-dir: local folders for layers the app references by ARN
        self.layer_dirs: dict[str, Path] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            import boto3

            creds = self.emu.credentials
            access, secret = (creds[0], creds[1]) if isinstance(creds, tuple) else (
                creds.access_key, creds.secret_key
            )  # fmt: skip
            self._clients[service] = boto3.client(
                service,
                endpoint_url=self.emu.endpoints[service],
                region_name=self.region,
                aws_access_key_id=access,
                aws_secret_access_key=secret,
            )
        return self._clients[service]

    def run(
        self, debug: synth.Assembly, app: synth.Assembly, records: list[dict[str, Any]]
    ) -> Provisioned:
        debug_stacks = self._stacks(debug)
        app_stacks = self._stacks(app)
        self._relays_own = {id(stack) for stack in debug_stacks}
        for stack in debug_stacks + app_stacks:
            self._name_resources(stack)
        app_stacks += [n for stack in list(app_stacks) for n in self._nested_stacks(stack)]
        everything = debug_stacks + app_stacks
        for stack in everything:
            self._create_storage(stack)
        apis = [api for stack in debug_stacks for api in self._create_apis(stack)]
        if len(apis) != 1:
            raise ProvisionError(
                f"the debug stack should hold one WebSocket API, found {len(apis)}; "
                "delete .relay/stages/<stage>/cdk.out.debug-local and run again"
            )
        api, table, bucket = apis[0], self._debug_ref(debug_stacks, "AWS::DynamoDB::Table"), (
            self._debug_ref(debug_stacks, "AWS::S3::Bucket")
        )  # fmt: skip
        self.substitutions = {
            self.placeholders.websocket_url: api.websocket_url,
            self.placeholders.connections_endpoint: api.connections_endpoint,
            self.placeholders.bucket: bucket,
            self.placeholders.region: self.region,
        }
        overrides = {
            "RELAY_WS_URL": api.websocket_url,
            "RELAY_CONNECTIONS_ENDPOINT": api.connections_endpoint,
        }
        self._collect_exports(everything)
        created: dict[tuple[str, str], Any] = {}
        resolved_env: dict[tuple[str, str], dict[str, str]] = {}
        for stack in everything:
            is_debug = stack in debug_stacks
            for logical, info, environment in self._create_functions(
                stack, overrides if is_debug else {}
            ):
                created[(stack.artifact_id, logical)] = info
                resolved_env[(stack.artifact_id, logical)] = environment

        functions: list[ProvisionedFunction] = []
        not_relayed: list[tuple[str, str]] = []
        by_id = {s.artifact_id: s for s in app_stacks}
        notes: list[str] = []
        for record in records:
            self.warnings.extend(f"{record['path']}: {w}" for w in record.get("warnings", []))
            if not record["relayed"]:
                not_relayed.append((record["path"], record["reason"] or "not relayed"))
                continue
            if record.get("note"):
                notes.append(f"{record['path']}: {record['note']}")
            given = []
            for layer in record.get("remote_layers", []):
                folder = local_layer(layer, self.layer_dirs)
                if folder is None:
                    notes.append(missing_layer_note(record["path"], layer))
                else:
                    given.append(folder)
            stack_key = "/".join([record["stack"], *record.get("nested", [])])
            info = created.get((stack_key, record["logical_id"]))
            if info is None:
                not_relayed.append((record["path"], "not created in the emulator"))
                continue
            stack = by_id[stack_key]
            environment = self._environment(
                stack, record["environment"], f"{record['path']} (local)"
            )
            config = FunctionConfig(
                name=info.name,
                handler=record["handler"],
                code_dir=Path(record["code_dir"]),
                layers=(*(Path(p) for p in record["layers"]), *given),
                source_layers=tuple(Path(p) for p in record.get("source_layers", [])),
                runtime=record["runtime"],
                environment=environment,
                timeout=float(record["timeout"]),
                memory_mb=int(record["memory"]),
                region=self.region,
                account_id=self.account,
            )
            functions.append(
                ProvisionedFunction(
                    path=record["path"],
                    function_name=info.name,
                    function_url=getattr(info, "function_url", None),
                    handler=record["handler"],
                    code_dir=record["code_dir"],
                    config=config,
                )
            )
        return Provisioned(
            stage=self.stage,
            websocket_url=api.websocket_url,
            connections_endpoint=api.connections_endpoint,
            bucket=bucket,
            table=table,
            region=self.region,
            functions=functions,
            not_relayed=not_relayed,
            skipped_types=dict(self.skipped),
            warnings=self.warnings,
            notes=notes,
            assembly=app.directory,
        )

    # -- templates -----------------------------------------------------------------------

    @staticmethod
    def _stacks(assembly: synth.Assembly) -> list[_Stack]:
        return [
            _Stack(artifact_id, s["stack_name"], s["template"], s["directory"])
            for artifact_id, s in assembly.stacks().items()
        ]

    def _nested_stacks(self, parent: _Stack) -> list[_Stack]:
        """A NestedStack's template, named and given its parameters as CloudFormation would
        (``AWS::CloudFormation::Stack`` with the template as an asset); recursively.

        Its key is the parent's plus the nested stack's logical id, as relay records it.
        """
        found: list[_Stack] = []
        resolve = self._resolver(parent)
        for logical, resource in parent.template.get("Resources", {}).items():
            path = (resource.get("Metadata") or {}).get("aws:asset:path")
            if resource.get("Type") != "AWS::CloudFormation::Stack" or not path:
                continue
            template = json.loads((parent.directory / path).read_text())
            name = _physical_name(parent, logical, 128)
            nested = _Stack(f"{parent.artifact_id}/{logical}", name, template, parent.directory)
            parameters = resource.get("Properties", {}).get("Parameters") or {}
            for key, value in parameters.items():
                try:
                    nested.refs[key] = str(resolve(value))
                except Unresolvable as exc:
                    self.warnings.append(f"{nested.name}: parameter {key} left out: {exc}")
            self._name_resources(nested)
            nested_resolve = self._resolver(nested)
            for output, spec in template.get("Outputs", {}).items():
                with contextlib.suppress(Unresolvable):
                    parent.attrs[(logical, f"Outputs.{output}")] = str(
                        nested_resolve(spec["Value"])
                    )
            parent.refs[logical] = (
                f"arn:aws:cloudformation:{self.region}:{self.account}:stack/{name}/"
                f"{_suffix(name, 'id')}"
            )
            found += [nested, *self._nested_stacks(nested)]
        return found

    def _skip(self, stack: _Stack, kind: str) -> None:
        """Count a resource the emulator does not provide (the app's; relay's are known)."""
        if id(stack) not in self._relays_own:
            self.skipped[kind] += 1

    def _resolver(self, stack: _Stack) -> _Resolver:
        return _Resolver(stack, self.region, self.account, self.exports)

    def _name_resources(self, stack: _Stack) -> None:
        """Physical names and attributes first, so any resource may refer to any other."""
        region, account = self.region, self.account
        for logical, resource in stack.template.get("Resources", {}).items():
            kind, props = resource.get("Type", ""), resource.get("Properties", {})
            if kind == "AWS::DynamoDB::Table":
                name = props.get("TableName") or _physical_name(stack, logical, 255)
                arn = f"arn:aws:dynamodb:{region}:{account}:table/{name}"
                stack.refs[logical] = name
                stack.attrs[(logical, "Arn")] = arn
                stack.attrs[(logical, "StreamArn")] = f"{arn}/stream/1970-01-01T00:00:00.000"
            elif kind == "AWS::S3::Bucket":
                name = props.get("BucketName") or _bucket_name(stack, logical)
                stack.refs[logical] = name
                stack.attrs[(logical, "Arn")] = f"arn:aws:s3:::{name}"
                stack.attrs[(logical, "DomainName")] = f"{name}.s3.amazonaws.com"
                stack.attrs[(logical, "RegionalDomainName")] = f"{name}.s3.{region}.amazonaws.com"
            elif kind == "AWS::Lambda::Function":
                name = props.get("FunctionName") or _physical_name(stack, logical)
                stack.refs[logical] = name
                stack.attrs[(logical, "Arn")] = f"arn:aws:lambda:{region}:{account}:function:{name}"
            elif kind == "AWS::IAM::Role":
                name = props.get("RoleName") or _physical_name(stack, logical)
                stack.refs[logical] = name
                stack.attrs[(logical, "Arn")] = f"arn:aws:iam::{account}:role/{name}"
                stack.attrs[(logical, "RoleId")] = f"AROA{_suffix(stack.name, logical)}"
            elif kind == "AWS::Lambda::LayerVersion":
                stack.refs[logical] = (
                    f"arn:aws:lambda:{region}:{account}:layer:{_physical_name(stack, logical)}:1"
                )

    def _collect_exports(self, stacks: list[_Stack]) -> None:
        for stack in stacks:
            resolve = self._resolver(stack)
            for output in stack.template.get("Outputs", {}).values():
                export = output.get("Export")
                if not export:
                    continue
                try:
                    self.exports[str(resolve(export["Name"]))] = str(resolve(output["Value"]))
                except Unresolvable:
                    continue

    def _create_storage(self, stack: _Stack) -> None:
        resolve = self._resolver(stack)
        for logical, resource in stack.template.get("Resources", {}).items():
            kind, props = resource.get("Type", ""), resource.get("Properties", {})
            if kind == "AWS::DynamoDB::Table":
                self._create_table(stack.refs[logical], resolve(props))
            elif kind == "AWS::S3::Bucket":
                self._create_bucket(stack.refs[logical])
            elif kind not in _CREATED and kind not in _NOT_NEEDED:
                self._skip(stack, kind)

    def _create_table(self, name: str, props: dict[str, Any]) -> None:
        ddb = self.client("dynamodb")
        request: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
        }
        if props.get("BillingMode") == "PAY_PER_REQUEST":
            request["BillingMode"] = "PAY_PER_REQUEST"
        else:
            request["ProvisionedThroughput"] = props.get(
                "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
            )
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification"):
            if key in props:
                request[key] = props[key]
        try:
            ddb.create_table(**request)
        except ddb.exceptions.ResourceInUseException:
            return  # an emulator that outlives one start keeps its data
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )

    def _create_bucket(self, name: str) -> None:
        s3 = self.client("s3")
        kwargs: dict[str, Any] = {"Bucket": name}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        already = (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists)
        with contextlib.suppress(*already):  # an emulator that outlives one start
            s3.create_bucket(**kwargs)

    def _create_apis(self, stack: _Stack) -> list[Any]:
        resources = stack.template.get("Resources", {})
        resolve = self._resolver(stack)
        apis = []
        for logical, resource in resources.items():
            props = resource.get("Properties", {})
            if resource.get("Type") != "AWS::ApiGatewayV2::Api":
                continue
            if props.get("ProtocolType") != "WEBSOCKET":
                self._skip(stack, "AWS::ApiGatewayV2::Api (HTTP)")
                continue
            routes: dict[str, str] = {}
            auth = "NONE"
            stage_name = self.stage
            for other in resources.values():
                oprops = other.get("Properties", {})
                if oprops.get("ApiId") != {"Ref": logical}:
                    continue
                if other["Type"] == "AWS::ApiGatewayV2::Stage":
                    stage_name = str(resolve(oprops["StageName"]))
                elif other["Type"] == "AWS::ApiGatewayV2::Route":
                    routes[oprops["RouteKey"]] = self._route_function(stack, oprops)
                    if oprops["RouteKey"] == "$connect":
                        auth = oprops.get("AuthorizationType", "NONE")
            name = str(resolve(props.get("Name", logical)))
            api = self.emu.create_websocket_api(name, routes=routes, stage=stage_name, auth=auth)
            stack.refs[logical] = api.api_id
            stack.attrs[(logical, "ApiEndpoint")] = api.websocket_url.rsplit("/", 1)[0]
            stack.attrs[(logical, "ApiId")] = api.api_id
            apis.append(api)
        return apis

    def _route_function(self, stack: _Stack, route: dict[str, Any]) -> str:
        """Route → ``integrations/<Ref>`` → IntegrationUri's ``GetAtt <function>.Arn``."""
        resources = stack.template["Resources"]
        target = route.get("Target", {})
        parts = target.get("Fn::Join", ["", []])[1] if isinstance(target, dict) else []
        integration = next((p["Ref"] for p in parts if isinstance(p, dict) and "Ref" in p), None)
        uri = resources.get(integration or "", {}).get("Properties", {}).get("IntegrationUri")
        for part in (uri or {}).get("Fn::Join", ["", []])[1]:
            if isinstance(part, dict) and "Fn::GetAtt" in part:
                return stack.refs[part["Fn::GetAtt"][0]]
        raise ProvisionError(
            f"route {route.get('RouteKey')} of stack {stack.name} has no Lambda integration "
            "relay can follow"
        )

    def _debug_ref(self, stacks: list[_Stack], kind: str) -> str:
        for stack in stacks:
            for logical, resource in stack.template.get("Resources", {}).items():
                if resource.get("Type") == kind:
                    return stack.refs[logical]
        raise ProvisionError(f"the debug stack has no {kind}")

    def _environment(self, stack: _Stack, variables: dict[str, Any], where: str) -> dict:
        resolve = self._resolver(stack)
        environment: dict[str, str] = {}
        for key, value in variables.items():
            try:
                text = resolve(value)
            except Unresolvable as exc:
                self.warnings.append(
                    f"{where}: variable {key} left out: {exc} is not emulated locally"
                )
                continue
            text = text if isinstance(text, str) else str(text)
            environment[key] = self.substitutions.get(text, text)
        return environment

    def _create_functions(
        self, stack: _Stack, overrides: dict[str, str]
    ) -> list[tuple[str, Any, dict[str, str]]]:
        resources = stack.template.get("Resources", {})
        resolve = self._resolver(stack)
        with_url = set()
        for resource in resources.values():
            if resource.get("Type") == "AWS::Lambda::Url":
                target = resource["Properties"]["TargetFunctionArn"]
                with_url.add(
                    target["Fn::GetAtt"][0] if "Fn::GetAtt" in target else target.get("Ref")
                )
        layers = {
            logical: stack.directory / r["Metadata"]["aws:asset:path"]
            for logical, r in resources.items()
            if r.get("Type") == "AWS::Lambda::LayerVersion"
            and "aws:asset:path" in r.get("Metadata", {})
        }
        made = []
        for logical, resource in resources.items():
            if resource.get("Type") != "AWS::Lambda::Function":
                continue
            props = resource.get("Properties", {})
            runtime = str(props.get("Runtime", ""))
            asset = resource.get("Metadata", {}).get("aws:asset:path")
            if not _PYTHON.match(runtime) or asset is None:
                self._skip(stack, f"AWS::Lambda::Function ({runtime or 'image'})")
                continue
            environment = self._environment(
                stack, (props.get("Environment") or {}).get("Variables") or {}, logical
            )
            environment.update(overrides)
            layer_dirs = []
            for layer in props.get("Layers") or []:
                ref = layer.get("Ref") if isinstance(layer, dict) else None
                if ref in layers:
                    layer_dirs.append(layers[ref])
                else:
                    self.warnings.append(f"{logical}: layer {layer} is not local; left out")
            config = FunctionConfig(
                name=stack.refs[logical],
                handler=str(props["Handler"]),
                code_dir=stack.directory / asset,
                layers=tuple(layer_dirs),
                environment=environment,
                timeout=float(resolve(props.get("Timeout", 3))),
                memory_mb=int(resolve(props.get("MemorySize", 128))),
                region=self.region,
                account_id=self.account,
            )
            info = self.emu.create_function(config, url=logical in with_url)
            if getattr(info, "function_url", None):
                stack.attrs[(logical, "FunctionUrl")] = info.function_url
            made.append((logical, info, environment))
        return made
