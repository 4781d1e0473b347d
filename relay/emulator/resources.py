"""Creating a synthesized stage's resources in the emulator.

DynamoDB tables and S3 buckets go to moto; WebSocket APIs and Lambda functions (with their
function URLs) to the emulator. Names, attributes and intrinsics come from
``relay.emulator.cfn``; function environments are resolved against what was created.
Resource types the emulator does not model are skipped and listed once.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relay.cloud.assembly import Assembly
from relay.emulator import services
from relay.emulator.cfn import Resolver, Stack, Unresolvable, collect_exports, name_resources
from relay.emulator.cfn.names import physical_name, suffix
from relay.emulator.fronts import wiring
from relay.live_stage import LiveFunction, LiveStage
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
_CREATED |= services.HANDLED | wiring.HANDLED
_NOT_NEEDED |= services.NOT_NEEDED
_PYTHON = re.compile(r"^python3\.\d+$")


class ProvisionError(Exception):
    """The stage could not be created in the emulator; the message says why and what next."""


@dataclass
class Provisioned(LiveStage):
    """A stage created in the emulator, with what provisioning has to report about it."""

    skipped_types: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    assembly: Path | None = None
    apis: list[dict[str, str]] = field(default_factory=list)  # path, type (REST/HTTP), url
    rules: list[dict[str, str]] = field(default_factory=list)  # path, name, schedule
    endpoint_url: str = ""  # every emulated service but Lambda
    stacks: dict[str, dict[str, Any]] = field(default_factory=dict)  # outputs, resources


class StageResources:
    """Creates a synthesized stage (debug stack + the app in live mode) in the emulator."""

    def __init__(self, emulator: Any, stage: str, region: str, account: str, placeholders: Any):
        self.emu = emulator
        self.stage = stage
        self.region = region
        self.account = account
        self.placeholders = placeholders
        self.skipped: Counter[str] = Counter()
        self._relays_own: set[int] = set()  # id() of the debug stack's Stack objects
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

    def create(
        self, debug: Assembly | None, app: Assembly, records: list[dict[str, Any]]
    ) -> Provisioned:
        """``debug`` None: relay start's direct mode, which has no stub and no WebSocket
        client, so neither the debug stack's API nor its table and bucket (moto's DynamoDB
        and S3 and their boto3 clients are ~55 MB of relay's process at rest)."""
        debug_stacks = self._stacks(debug) if debug is not None else []
        app_stacks = self._stacks(app)
        self._relays_own = {id(stack) for stack in debug_stacks}
        for stack in debug_stacks + app_stacks:
            name_resources(stack, self.region, self.account)
            self._name_services(stack)
        app_stacks += [n for stack in list(app_stacks) for n in self._nested_stacks(stack)]
        everything = debug_stacks + app_stacks
        for stack in everything:
            self._create_storage(stack)
        self.wiring = wiring.Wiring(self.emu, self.region, self.warnings)
        for stack in app_stacks:
            self.wiring.create_apis(stack, self._resolver(stack))
        apis = [api for stack in debug_stacks for api in self._create_apis(stack)]
        websocket_url = connections_endpoint = table = bucket = ""
        if debug is not None:
            if len(apis) != 1:
                raise ProvisionError(
                    f"the debug stack should hold one WebSocket API, found {len(apis)}; "
                    "delete .relay/stages/<stage>/cdk.out.debug-local and run again"
                )
            websocket_url = apis[0].websocket_url
            connections_endpoint = apis[0].connections_endpoint
            table = self._debug_ref(debug_stacks, "AWS::DynamoDB::Table")
            bucket = self._debug_ref(debug_stacks, "AWS::S3::Bucket")
        self.substitutions = {
            self.placeholders.websocket_url: websocket_url,
            self.placeholders.connections_endpoint: connections_endpoint,
            self.placeholders.bucket: bucket,
            self.placeholders.region: self.region,
        }
        overrides = {
            "RELAY_WS_URL": websocket_url,
            "RELAY_CONNECTIONS_ENDPOINT": connections_endpoint,
        }
        collect_exports(everything, self.region, self.account, self.exports)
        created: dict[tuple[str, str], Any] = {}
        resolved_env: dict[tuple[str, str], dict[str, str]] = {}
        for stack in everything:
            is_debug = stack in debug_stacks
            for logical, info, environment in self._create_functions(
                stack, overrides if is_debug else {}
            ):
                created[(stack.artifact_id, logical)] = info
                resolved_env[(stack.artifact_id, logical)] = environment

        for stack in app_stacks:
            self.wiring.wire_event_sources(stack, self._resolver(stack), Unresolvable)
        functions: list[LiveFunction] = []
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
            config = FunctionConfig.from_record(
                record,
                name=info.name,
                region=self.region,
                account_id=self.account,
                environment=environment,
                extra_layers=tuple(given),
            )
            functions.append(
                LiveFunction(
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
            websocket_url=websocket_url,
            connections_endpoint=connections_endpoint,
            bucket=bucket,
            table=table,
            region=self.region,
            functions=functions,
            not_relayed=not_relayed,
            skipped_types=dict(self.skipped),
            warnings=self.warnings,
            notes=notes,
            assembly=app.directory,
            apis=self.wiring.wired.apis,
            rules=self.wiring.wired.rules,
            endpoint_url=getattr(self.emu, "endpoint_url", ""),
            stacks={stack.name: self._describe(stack) for stack in app_stacks},
        )

    def _name_services(self, stack: Stack) -> None:
        """Names of the data services, APIs and rules (``relay.emulator.services``/``wiring``)."""
        endpoint = getattr(self.emu, "endpoint_url", "")
        for logical, resource in stack.template.get("Resources", {}).items():
            kind, props = resource.get("Type", ""), resource.get("Properties", {})
            if not services.name_resource(
                stack, logical, kind, props, region=self.region, account=self.account,
                endpoint_url=endpoint,
            ):  # fmt: skip
                wiring.name_resource(
                    stack, logical, kind, props, region=self.region, account=self.account
                )

    def _describe(self, stack: Stack) -> dict[str, Any]:
        """What `aws cloudformation describe-stacks` / `list-stack-resources` would show."""
        resolve = self._resolver(stack)
        outputs: dict[str, str] = {}
        for key, output in stack.template.get("Outputs", {}).items():
            try:
                outputs[key] = self._rewrite(str(resolve(output["Value"])))
            except Unresolvable:
                continue
        return {"outputs": outputs, "resources": dict(stack.refs)}

    def _rewrite(self, text: str) -> str:
        """AWS URLs of the app's APIs → their local URLs."""
        for aws, local in self.wiring.wired.url_rewrites.items():
            if text.startswith(aws):
                return local + text[len(aws) :]
        return text

    # -- templates -----------------------------------------------------------------------

    @staticmethod
    def _stacks(assembly: Assembly) -> list[Stack]:
        return [
            Stack(artifact_id, s["stack_name"], s["template"], s["directory"])
            for artifact_id, s in assembly.stacks().items()
        ]

    def _nested_stacks(self, parent: Stack) -> list[Stack]:
        """A NestedStack's template, named and given its parameters as CloudFormation would
        (``AWS::CloudFormation::Stack`` with the template as an asset); recursively.

        Its key is the parent's plus the nested stack's logical id, as relay records it.
        """
        found: list[Stack] = []
        resolve = self._resolver(parent)
        for logical, resource in parent.template.get("Resources", {}).items():
            path = (resource.get("Metadata") or {}).get("aws:asset:path")
            if resource.get("Type") != "AWS::CloudFormation::Stack" or not path:
                continue
            template = json.loads((parent.directory / path).read_text())
            name = physical_name(parent, logical, 128)
            nested = Stack(f"{parent.artifact_id}/{logical}", name, template, parent.directory)
            parameters = resource.get("Properties", {}).get("Parameters") or {}
            for key, value in parameters.items():
                try:
                    nested.refs[key] = str(resolve(value))
                except Unresolvable as exc:
                    self.warnings.append(f"{nested.name}: parameter {key} left out: {exc}")
            name_resources(nested, self.region, self.account)
            nested_resolve = self._resolver(nested)
            for output, spec in template.get("Outputs", {}).items():
                with contextlib.suppress(Unresolvable):
                    parent.attrs[(logical, f"Outputs.{output}")] = str(
                        nested_resolve(spec["Value"])
                    )
            parent.refs[logical] = (
                f"arn:aws:cloudformation:{self.region}:{self.account}:stack/{name}/"
                f"{suffix(name, 'id')}"
            )
            found += [nested, *self._nested_stacks(nested)]
        return found

    def _skip(self, stack: Stack, kind: str) -> None:
        """Count a resource the emulator does not provide (the app's; relay's are known)."""
        if id(stack) not in self._relays_own:
            self.skipped[kind] += 1

    def _resolver(self, stack: Stack) -> Resolver:
        return Resolver(stack, self.region, self.account, self.exports)

    def _create_storage(self, stack: Stack) -> None:
        resolve = self._resolver(stack)
        for logical, resource in stack.template.get("Resources", {}).items():
            kind, props = resource.get("Type", ""), resource.get("Properties", {})
            if kind == "AWS::DynamoDB::Table":
                self._create_table(stack.refs[logical], resolve(props))
            elif kind == "AWS::S3::Bucket":
                self._create_bucket(stack.refs[logical])
            elif kind not in _CREATED and kind not in _NOT_NEEDED:
                self._skip(stack, kind)
        services.ServiceProvisioner(self.client, self.warnings).create(stack, resolve, Unresolvable)

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
        services.create_table(ddb, request, props.get("TimeToLiveSpecification"))

    def _create_bucket(self, name: str) -> None:
        s3 = self.client("s3")
        kwargs: dict[str, Any] = {"Bucket": name}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        already = (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists)
        with contextlib.suppress(*already):  # an emulator that outlives one start
            s3.create_bucket(**kwargs)

    def _create_apis(self, stack: Stack) -> list[Any]:
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

    def _route_function(self, stack: Stack, route: dict[str, Any]) -> str:
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

    def _debug_ref(self, stacks: list[Stack], kind: str) -> str:
        for stack in stacks:
            for logical, resource in stack.template.get("Resources", {}).items():
                if resource.get("Type") == kind:
                    return stack.refs[logical]
        raise ProvisionError(f"the debug stack has no {kind}")

    def _environment(self, stack: Stack, variables: dict[str, Any], where: str) -> dict[str, str]:
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
            text = self._rewrite(text if isinstance(text, str) else str(text))
            environment[key] = self.substitutions.get(text, text)
        return environment

    def _create_functions(
        self, stack: Stack, overrides: dict[str, str]
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
