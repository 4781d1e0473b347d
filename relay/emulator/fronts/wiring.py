"""The app's front doors from its synthesized templates: API Gateway REST and HTTP APIs,
SQS event source mappings, SNS subscriptions and S3 notifications to functions, and
EventBridge rules (event patterns in moto, schedules on the emulator's clock).

Called by provisioning once names are known (`name_resource`), before the functions are
created (`create_apis`, so their variables can hold the local URLs) and after
(`wire_event_sources`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from relay.emulator import ids
from relay.emulator.fronts.event_sources import RuleTarget, ScheduledRule
from relay.emulator.fronts.http_api import Cors, HttpApiSpec, HttpRoute
from relay.emulator.fronts.pollers import SqsMapping, StreamMapping
from relay.emulator.fronts.rest_api import (
    INTEGRATION_TIMEOUT,
    Authorizer,
    Integration,
    IntegrationResponse,
    Method,
    RestApiSpec,
)
from relay.emulator.fronts.schedules import ScheduleError, parse
from relay.emulator.services import Stack

log = logging.getLogger("relay.emulator")

Resolve = Callable[[Any], Any]

#: Types this module names and serves (with those the API constructs add around them).
HANDLED = {
    "AWS::ApiGateway::RestApi",
    "AWS::ApiGateway::Resource",
    "AWS::ApiGateway::Method",
    "AWS::ApiGateway::Stage",
    "AWS::ApiGateway::Deployment",
    "AWS::ApiGateway::Authorizer",
    "AWS::Lambda::EventSourceMapping",
    "AWS::Events::Rule",
    "Custom::S3BucketNotifications",
}
_FUNCTION = re.compile(r"arn:aws[\w-]*:lambda:[^:]*:\d*:function:([^/:]+)")


@dataclass
class Wired:
    """What the start banner and session.json show."""

    apis: list[dict[str, str]] = field(default_factory=list)  # path, type, url
    rules: list[dict[str, str]] = field(default_factory=list)  # path, name, schedule
    url_rewrites: dict[str, str] = field(default_factory=dict)  # AWS URL prefix -> local


def construct_path(resource: dict[str, Any], fallback: str) -> str:
    path = resource.get("Metadata", {}).get("aws:cdk:path", fallback)
    return str(path).removesuffix("/Resource")


def function_name(arn_or_name: Any) -> str | None:
    """`...:function:NAME`, a Lambda integration URI, or a plain function name."""
    text = str(arn_or_name)
    found = _FUNCTION.search(text)
    if found:
        return found.group(1)
    return text if text and ":" not in text and "/" not in text else None


def name_resource(
    stack: Stack, logical: str, kind: str, props: dict[str, Any], *, region: str, account: str
) -> bool:
    """Ids and attributes of the API Gateway and EventBridge resources; False otherwise."""
    refs, attrs = stack.refs, stack.attrs
    if kind == "AWS::ApiGateway::RestApi":
        refs[logical] = ids.api_id()
        attrs[(logical, "RootResourceId")] = ids.api_id()[:10]
    elif kind in (
        "AWS::ApiGateway::Resource",
        "AWS::ApiGateway::Deployment",
        "AWS::ApiGateway::Authorizer",
    ):
        refs[logical] = ids.api_id()[:6]
    elif kind == "AWS::ApiGateway::Stage":
        refs[logical] = str(props.get("StageName", "prod"))
    elif kind == "AWS::ApiGatewayV2::Api" and props.get("ProtocolType") == "HTTP":
        refs[logical] = ids.api_id()
        attrs[(logical, "ApiId")] = refs[logical]
    elif kind == "AWS::Events::Rule":
        name = props.get("Name") if isinstance(props.get("Name"), str) else None
        name = name or f"{stack.name}-{logical}"[:64]
        bus = props.get("EventBusName") if isinstance(props.get("EventBusName"), str) else None
        refs[logical] = name
        rule = f"rule/{bus}/{name}" if bus and bus != "default" else f"rule/{name}"
        attrs[(logical, "Arn")] = f"arn:aws:events:{region}:{account}:{rule}"
    else:
        return False
    return True


class Wiring:
    """One provisioning run's APIs and event sources."""

    def __init__(self, emulator: Any, region: str, warnings: list[str]) -> None:
        self.emu = emulator
        self.region = region
        self.warnings = warnings
        self.wired = Wired()

    # -- APIs ----------------------------------------------------------------------------

    def create_apis(self, stack: Stack, resolve: Callable[[Any], Any]) -> None:
        resources = stack.template.get("Resources", {})
        for logical, resource in resources.items():
            kind, props = resource.get("Type"), resource.get("Properties", {})
            if kind == "AWS::ApiGateway::RestApi":
                self._rest_api(stack, logical, resource, resolve)
            elif kind == "AWS::ApiGatewayV2::Api" and props.get("ProtocolType") == "HTTP":
                self._http_api(stack, logical, resource, resolve)

    def _children(self, stack: Stack, api: str, kind: str) -> list[tuple[str, dict[str, Any]]]:
        found = []
        for logical, resource in stack.template.get("Resources", {}).items():
            if resource.get("Type") != kind:
                continue
            props = resource.get("Properties", {})
            if props.get("RestApiId") == {"Ref": api} or props.get("ApiId") == {"Ref": api}:
                found.append((logical, props))
        return found

    def _rest_api(
        self, stack: Stack, logical: str, resource: dict[str, Any], resolve: Resolve
    ) -> None:
        props = resolve(resource.get("Properties", {}))
        api_id, root = stack.refs[logical], stack.attrs[(logical, "RootResourceId")]
        parents: dict[str, tuple[str, str]] = {}  # resource id -> (parent id, path part)
        for child, child_props in self._children(stack, logical, "AWS::ApiGateway::Resource"):
            parents[stack.refs[child]] = (
                str(resolve(child_props["ParentId"])),
                str(child_props["PathPart"]),
            )

        def path_of(resource_id: str, depth: int = 0) -> str:
            if resource_id == root or depth > 50:
                return "/"
            parent, part = parents[resource_id]
            return path_of(parent, depth + 1).rstrip("/") + "/" + part

        authorizers: dict[str, Authorizer] = {}
        for child, child_props in self._children(stack, logical, "AWS::ApiGateway::Authorizer"):
            authorizers[stack.refs[child]] = self._authorizer(child, child_props, resolve)
        tree: dict[str, dict[str, Method]] = {}
        resource_ids: dict[str, str] = {}
        for _, raw in self._children(stack, logical, "AWS::ApiGateway::Method"):
            method = resolve(raw)
            path = path_of(str(method["ResourceId"]))
            resource_ids[path] = str(method["ResourceId"])
            verb = str(method["HttpMethod"]).upper()
            authorizer = None
            if method.get("AuthorizationType") in ("CUSTOM", "COGNITO_USER_POOLS"):
                authorizer = authorizers.get(str(method.get("AuthorizerId")))
            elif method.get("AuthorizationType") == "AWS_IAM":
                self.warnings.append(
                    f"{construct_path(resource, logical)}: {verb} {path} uses "
                    "IAM authorization, not enforced locally"
                )
            tree.setdefault(path, {})[verb] = Method(
                verb, self._integration(method.get("Integration") or {}), authorizer
            )
        stage, variables = self._rest_stage(stack, logical, resolve)
        spec = RestApiSpec(
            name=str(props.get("Name", logical)),
            stage=stage,
            resources=tree,
            path=construct_path(resource, logical),
            stage_variables=variables,
            binary_media_types=tuple(props.get("BinaryMediaTypes") or ()),
            resource_ids=resource_ids,
            api_id=api_id,
        )
        api = self.emu.create_rest_api(spec)
        aws_url = f"https://{api_id}.execute-api.{self.region}.amazonaws.com/{stage}/"
        self.wired.url_rewrites[aws_url] = api.url
        self.wired.url_rewrites[aws_url.rstrip("/")] = api.url.rstrip("/")
        self.wired.apis.append({"path": spec.path, "type": "REST", "url": api.url})

    def _rest_stage(self, stack: Stack, api: str, resolve: Resolve) -> tuple[str, dict[str, str]]:
        for _, props in self._children(stack, api, "AWS::ApiGateway::Stage"):
            props = resolve(props)
            return str(props.get("StageName", "prod")), dict(props.get("Variables") or {})
        for _, props in self._children(stack, api, "AWS::ApiGateway::Deployment"):
            if "StageName" in props:
                return str(resolve(props["StageName"])), {}
        return "prod", {}

    def _integration(self, spec: dict[str, Any]) -> Integration:
        kind = str(spec.get("Type", "MOCK"))
        function = function_name(spec.get("Uri", "")) if kind in ("AWS", "AWS_PROXY") else None
        timeout = float(spec.get("TimeoutInMillis", INTEGRATION_TIMEOUT * 1000)) / 1000
        responses = [
            IntegrationResponse(
                str(r.get("StatusCode", "200")),
                r.get("SelectionPattern") or None,
                dict(r.get("ResponseParameters") or {}),
                dict(r.get("ResponseTemplates") or {}),
            )
            for r in spec.get("IntegrationResponses") or []
        ]
        return Integration(
            kind,
            function,
            min(timeout, INTEGRATION_TIMEOUT),
            dict(spec.get("RequestTemplates") or {}),
            str(spec.get("PassthroughBehavior", "WHEN_NO_MATCH")),
            responses,
        )

    def _authorizer(self, logical: str, raw: dict[str, Any], resolve: Resolve) -> Authorizer:
        props = resolve(raw)
        kind = str(props.get("Type", "TOKEN"))
        function = (
            function_name(props.get("AuthorizerUri", "")) if kind != "COGNITO_USER_POOLS" else None
        )
        name = str(props.get("Name", logical))
        if function is None:
            self.warnings.append(f"authorizer {name} ({kind}) is not enforced locally")
        elif not any(f.name == function for f in self.emu.functions):
            self.warnings.append(
                f"authorizer {name}: function {function} is not local; "
                "requests pass unauthenticated"
            )
            function = None
        sources = str(props.get("IdentitySource", "method.request.header.Authorization"))
        return Authorizer(
            name,
            kind,
            function,
            tuple(s.strip() for s in sources.split(",") if s.strip()),
            props.get("IdentityValidationExpression"),
        )

    def _http_api(
        self, stack: Stack, logical: str, resource: dict[str, Any], resolve: Resolve
    ) -> None:
        props = resolve(resource.get("Properties", {}))
        integrations = {
            child: resolve(child_props)
            for child, child_props in self._children(
                stack, logical, "AWS::ApiGatewayV2::Integration"
            )
        }
        routes: list[HttpRoute] = []
        for _, raw in self._children(stack, logical, "AWS::ApiGatewayV2::Route"):
            target = raw.get("Target", {})
            parts = target.get("Fn::Join", ["", []])[1] if isinstance(target, dict) else []
            ref = next((p["Ref"] for p in parts if isinstance(p, dict) and "Ref" in p), None)
            integration = integrations.get(ref or "", {})
            key = str(resolve(raw["RouteKey"]))
            if raw.get("AuthorizationType", "NONE") != "NONE":
                self.warnings.append(
                    f"{construct_path(resource, logical)}: route {key} has a "
                    f"{raw['AuthorizationType']} authorizer, not enforced locally"
                )
            timeout = float(integration.get("TimeoutInMillis", 30000)) / 1000
            routes.append(
                HttpRoute(
                    key,
                    function_name(integration.get("IntegrationUri", "")),
                    str(integration.get("PayloadFormatVersion", "2.0")),
                    timeout,
                )
            )
        stage, variables = "$default", {}
        for _, stage_props in self._children(stack, logical, "AWS::ApiGatewayV2::Stage"):
            stage_props = resolve(stage_props)
            stage = str(stage_props.get("StageName", "$default"))
            variables = dict(stage_props.get("StageVariables") or {})
            break
        cors = None
        if props.get("CorsConfiguration"):
            c = props["CorsConfiguration"]
            cors = Cors(
                tuple(c.get("AllowOrigins", ())),
                tuple(c.get("AllowMethods", ())),
                tuple(c.get("AllowHeaders", ())),
                tuple(c.get("ExposeHeaders", ())),
                c.get("MaxAge"),
                bool(c.get("AllowCredentials", False)),
            )
        spec = HttpApiSpec(
            name=str(props.get("Name", logical)),
            routes=routes,
            stage=stage,
            path=construct_path(resource, logical),
            cors=cors,
            stage_variables=variables,
            api_id=stack.refs[logical],
        )
        api = self.emu.create_http_api(spec)
        endpoint = f"https://{spec.api_id}.execute-api.{self.region}.amazonaws.com"
        stack.attrs[(logical, "ApiEndpoint")] = f"http://{api.domain}"
        self.wired.url_rewrites[endpoint] = f"http://{api.domain}"
        self.wired.apis.append({"path": spec.path, "type": "HTTP", "url": api.url})

    # -- event sources -------------------------------------------------------------------

    def wire_event_sources(
        self, stack: Stack, resolve: Resolve, unresolvable: type[Exception]
    ) -> None:
        for logical, resource in stack.template.get("Resources", {}).items():
            kind = resource.get("Type")
            where = construct_path(resource, f"{stack.name}/{logical}")
            try:
                if kind == "AWS::Lambda::EventSourceMapping":
                    self._mapping(resolve(resource["Properties"]), where)
                elif kind == "AWS::SNS::Subscription":
                    props = resolve(resource["Properties"])
                    if props.get("Protocol") == "lambda":
                        self._sns_to_function(props, where)
                elif kind == "AWS::SNS::Topic":
                    props = resolve(resource.get("Properties", {}))
                    for sub in props.get("Subscription") or []:
                        if sub.get("Protocol") == "lambda":
                            self._sns_to_function({"TopicArn": stack.refs[logical], **sub}, where)
                elif kind == "Custom::S3BucketNotifications":
                    props = resolve(resource["Properties"])
                    self._bucket_notifications(
                        props["BucketName"], props.get("NotificationConfiguration") or {}
                    )
                elif kind == "AWS::S3::Bucket" and "NotificationConfiguration" in resource.get(
                    "Properties", {}
                ):
                    props = resolve(resource["Properties"])
                    self._bucket_notifications(
                        stack.refs[logical], _from_cfn(props["NotificationConfiguration"])
                    )
                elif kind == "AWS::Events::Rule":
                    self._rule(stack, logical, resolve(resource.get("Properties", {})), where)
            except unresolvable as exc:
                self.warnings.append(f"{where}: not wired: {exc} is not emulated locally")
            except Exception as exc:  # one bad resource must not stop the stage
                self.warnings.append(f"{where}: not wired: {exc}")

    def _mapping(self, props: dict[str, Any], where: str) -> None:
        source = str(props.get("EventSourceArn", ""))
        function = function_name(props.get("FunctionName", ""))
        if source.startswith("arn:aws:dynamodb:") and "/stream/" in source and function:
            table = source.split(":table/", 1)[1].split("/", 1)[0]
            stream = (
                self.emu.service_client("dynamodb")
                .describe_table(TableName=table)["Table"]
                .get("LatestStreamArn")
            )
            if not stream:
                self.warnings.append(f"{where}: table {table} has no stream")
                return
            self.emu.event_sources.add_stream_mapping(
                StreamMapping(
                    stream,
                    function,
                    batch_size=int(props.get("BatchSize", 100)),
                    starting_position=str(props.get("StartingPosition", "LATEST")),
                    max_retries=int(props.get("MaximumRetryAttempts", -1)),
                )
            )
            return
        if not source.startswith("arn:aws:sqs:") or function is None:
            self.warnings.append(
                f"{where}: event source {source or 'unknown'} is not emulated "
                "(SQS queues and DynamoDB streams are)"
            )
            return
        queue = source.rsplit(":", 1)[1]
        url = self.emu.service_client("sqs").get_queue_url(QueueName=queue)["QueueUrl"]
        self.emu.event_sources.add_sqs_mapping(
            SqsMapping(
                url,
                source,
                function,
                batch_size=int(props.get("BatchSize", 10)),
                window=float(props.get("MaximumBatchingWindowInSeconds", 0)),
                report_batch_item_failures="ReportBatchItemFailures"
                in (props.get("FunctionResponseTypes") or []),
                enabled=props.get("Enabled", True) not in (False, "false"),
            )
        )

    def _sns_to_function(self, props: dict[str, Any], where: str) -> None:
        function = function_name(props.get("Endpoint", ""))
        if function is None:
            self.warnings.append(f"{where}: subscription endpoint is not a local function")
            return
        attributes = {}
        if "FilterPolicy" in props:
            attributes["FilterPolicy"] = json.dumps(props["FilterPolicy"])
        if "FilterPolicyScope" in props:
            attributes["FilterPolicyScope"] = str(props["FilterPolicyScope"])
        self.emu.event_sources.deliver_sns(str(props["TopicArn"]), function, attributes)

    def _bucket_notifications(self, bucket: str, config: dict[str, Any]) -> None:
        config = dict(config)
        queues = list(config.pop("QueueConfigurations", None) or [])
        for entry in config.pop("LambdaFunctionConfigurations", None) or []:
            function = function_name(entry.get("LambdaFunctionArn", ""))
            if function is None:
                continue
            queue = self.emu.event_sources.deliver_s3(function)
            queues.append(
                {k: v for k, v in entry.items() if k != "LambdaFunctionArn"} | {"QueueArn": queue}
            )
        if queues:
            config["QueueConfigurations"] = queues
        self.emu.service_client("s3").put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration=config
        )

    def _rule(self, stack: Stack, logical: str, props: dict[str, Any], where: str) -> None:
        name, arn = stack.refs[logical], stack.attrs[(logical, "Arn")]
        if props.get("State", "ENABLED") != "ENABLED":
            return
        events = self.emu.service_client("events")
        bus = props.get("EventBusName")
        targets = props.get("Targets") or []
        expression = props.get("ScheduleExpression")
        if expression:
            try:
                schedule = parse(str(expression))
            except ScheduleError as exc:
                self.warnings.append(f"{where}: {exc}")
                return
            events.put_rule(Name=name, ScheduleExpression=str(expression))
            self.emu.event_sources.add_schedule(
                ScheduledRule(
                    name,
                    arn,
                    schedule,
                    [
                        RuleTarget(str(t["Arn"]), t.get("Input"), t.get("InputPath"))
                        for t in targets
                    ],
                    path=where,
                )
            )
            self.wired.rules.append({"path": where, "name": name, "schedule": str(expression)})
            return
        pattern = props.get("EventPattern")
        kwargs: dict[str, Any] = {"Name": name, "EventPattern": json.dumps(pattern)}
        if bus:
            kwargs["EventBusName"] = str(bus)
        events.put_rule(**kwargs)
        moto_targets = []
        for target in targets:
            entry = {
                k: target[k]
                for k in ("Id", "Input", "InputPath", "InputTransformer")
                if k in target
            }
            arn_text = str(target["Arn"])
            function = function_name(arn_text) if ":lambda:" in arn_text else None
            if function is not None:
                entry["Arn"] = self.emu.event_sources.deliver_events(function)
            elif arn_text.startswith(("arn:aws:sqs:", "arn:aws:events:", "arn:aws:logs:")):
                entry["Arn"] = arn_text
            else:
                self.warnings.append(f"{where}: target {arn_text} is not emulated")
                continue
            moto_targets.append(entry)
        if moto_targets:
            target_kwargs: dict[str, Any] = {"Rule": name, "Targets": moto_targets}
            if bus:
                target_kwargs["EventBusName"] = str(bus)
            events.put_targets(**target_kwargs)
        self.wired.rules.append({"path": where, "name": name, "schedule": ""})


def _from_cfn(config: dict[str, Any]) -> dict[str, Any]:
    """AWS::S3::Bucket's NotificationConfiguration → the S3 API's shape."""

    def key_filter(entry: dict[str, Any]) -> dict[str, Any]:
        rules = entry.get("Filter", {}).get("S3Key", {}).get("Rules", [])
        return {"Filter": {"Key": {"FilterRules": rules}}} if rules else {}

    out: dict[str, Any] = {}
    for cfn, api, arn_key, api_arn in [
        ("LambdaConfigurations", "LambdaFunctionConfigurations", "Function", "LambdaFunctionArn"),
        ("QueueConfigurations", "QueueConfigurations", "Queue", "QueueArn"),
        ("TopicConfigurations", "TopicConfigurations", "Topic", "TopicArn"),
    ]:
        entries = config.get(cfn) or []
        if entries:
            out[api] = [
                {api_arn: e[arn_key], "Events": [e["Event"]], **key_filter(e)} for e in entries
            ]
    if config.get("EventBridgeConfiguration"):
        out["EventBridgeConfiguration"] = {}
    return out
