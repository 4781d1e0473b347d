"""The per-stage debug stack: the WebSocket gateway, connection table and overflow bucket.

One stack per stage (``relay-<stage>-debug``) so that developers sharing an account never
share a gateway, and so that ``relay remove`` can delete a stage's plumbing on its own.
At rest it costs nothing but storage (on-demand table, empty bucket, idle API).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import aws_cdk as cdk
import jsii
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct, IConstruct

#: CloudFormation output keys; relay/cloud/go_live.py and the emulator read them by these names.
OUTPUT_WEBSOCKET_URL = "WebSocketUrl"
OUTPUT_CONNECTIONS_ENDPOINT = "ConnectionsEndpoint"
OUTPUT_TABLE = "ConnectionTable"
OUTPUT_BUCKET = "OverflowBucket"
OUTPUT_API_ID = "ApiId"
OUTPUT_EXECUTE_API_ARN = "ExecuteApiArn"
OUTPUT_REGION = "Region"
OUTPUT_CLIENT_PRINCIPAL = "ClientPrincipal"

#: The connect handler's variable naming the one principal that may connect as the client
#: (= stub_lambda/connect.py's CLIENT_PRINCIPAL_ENV).
CLIENT_PRINCIPAL_ENV = "RELAY_CLIENT_PRINCIPAL"

#: TTL attribute the connect handler writes (epoch seconds) so stale connections vanish.
TTL_ATTRIBUTE = "expires_at"
#: Overflow objects are single-use message bodies; one day is ample for any invocation.
OVERFLOW_EXPIRY = cdk.Duration.days(1)

#: The newest Python runtime: the stub asset is stdlib + pure-Python websockets.
CONNECT_RUNTIME = lambda_.Runtime.PYTHON_3_14

Customize = Callable[[cdk.Stack], None]


def debug_stack_name(stage: str) -> str:
    """Stack names carry the stage so each developer's plumbing is their own."""
    return f"relay-{stage}-debug"


class DebugStack(cdk.Stack):
    """API Gateway WebSocket API (IAM on ``$connect``), connection table, overflow bucket.

    ``client_principal`` is the ARN of the developer who runs ``relay start`` for the stage
    (STS ``GetCallerIdentity``); only that principal may connect as the stage's client.
    ``customize`` runs last with the finished stack, so a team can add what its account
    requires to everything in it: ``Tags.of(stack).add(...)``,
    ``iam.PermissionsBoundary.of(stack).apply(...)``, or an Aspect such as
    :class:`RolePath`. :func:`customize_from_context` builds one from ``cdk.json``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str | None = None,
        *,
        stage: str,
        stub_code: Path | str,
        client_principal: str,
        customize: Customize | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(
            scope,
            id or debug_stack_name(stage),
            description=f"relay debug plumbing for stage {stage} (WebSocket API, table, bucket)",
            **kwargs,  # type: ignore[arg-type]
        )
        if not client_principal.startswith("arn:"):
            raise ValueError(
                f"client_principal must be the ARN of the developer running relay start "
                f"(aws sts get-caller-identity), not {client_principal!r}"
            )
        self.stage_name = stage
        self.client_principal = client_principal

        self.table = dynamodb.Table(
            self,
            "Connections",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=False
            ),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )

        self.bucket = s3.Bucket(
            self,
            "Overflow",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(id="expire-overflow", expiration=OVERFLOW_EXPIRY)],
            auto_delete_objects=True,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )

        self.connect_handler = lambda_.Function(
            self,
            "ConnectHandler",
            runtime=CONNECT_RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler="connect.handler",
            code=lambda_.Code.from_asset(str(stub_code)),
            timeout=cdk.Duration.seconds(10),
            memory_size=256,
            description=f"relay $connect/$disconnect/$default for stage {stage}",
            # Its own log group, removed with the stack: `relay remove` leaves no logs behind.
            log_group=logs.LogGroup(
                self,
                "ConnectHandlerLogs",
                retention=logs.RetentionDays.ONE_WEEK,
                removal_policy=cdk.RemovalPolicy.DESTROY,
            ),
            environment={
                "RELAY_TABLE": self.table.table_name,
                "RELAY_STAGE": stage,
                CLIENT_PRINCIPAL_ENV: client_principal,
            },
        )
        integration = integrations.WebSocketLambdaIntegration(
            "ConnectIntegration", self.connect_handler
        )
        self.api = apigw.WebSocketApi(
            self,
            "Gateway",
            api_name=f"relay-{stage}",
            description=f"relay live gateway for stage {stage}",
            connect_route_options=apigw.WebSocketRouteOptions(
                integration=integration, authorizer=authorizers.WebSocketIamAuthorizer()
            ),
            disconnect_route_options=apigw.WebSocketRouteOptions(
                integration=integrations.WebSocketLambdaIntegration(
                    "DisconnectIntegration", self.connect_handler
                )
            ),
            default_route_options=apigw.WebSocketRouteOptions(
                integration=integrations.WebSocketLambdaIntegration(
                    "DefaultIntegration", self.connect_handler
                )
            ),
        )
        self.ws_stage = apigw.WebSocketStage(
            self, "Stage", web_socket_api=self.api, stage_name=stage, auto_deploy=True
        )
        self.connections_endpoint = (
            f"https://{self.api.api_id}.execute-api.{self.region}.{self.url_suffix}/{stage}"
        )
        self.execute_api_arn = self.format_arn(service="execute-api", resource=self.api.api_id)
        self.connect_handler.add_environment(
            "RELAY_CONNECTIONS_ENDPOINT", self.connections_endpoint
        )
        self.table.grant_read_write_data(self.connect_handler)
        # The handler answers `hello` and tells a replaced client so: @connections POST/DELETE.
        self.ws_stage.grant_management_api_access(self.connect_handler)

        outputs = {
            OUTPUT_WEBSOCKET_URL: self.ws_stage.url,
            OUTPUT_CONNECTIONS_ENDPOINT: self.connections_endpoint,
            OUTPUT_TABLE: self.table.table_name,
            OUTPUT_BUCKET: self.bucket.bucket_name,
            OUTPUT_API_ID: self.api.api_id,
            OUTPUT_EXECUTE_API_ARN: self.execute_api_arn,
            OUTPUT_REGION: self.region,
            OUTPUT_CLIENT_PRINCIPAL: client_principal,
        }
        for key, value in outputs.items():
            cdk.CfnOutput(self, key, value=value)

        self._acknowledge_findings(stage)
        if customize is not None:
            customize(self)

    def _acknowledge_findings(self, stage: str) -> None:
        """cdk-nag AwsSolutions findings that are deliberate here, each with its reason."""
        api_logical = self.get_logical_id(self.api.node.default_child)  # type: ignore[arg-type]
        acknowledgements = [
            (self.table, "AwsSolutions-DDB3",
             "The table only holds live WebSocket connection ids that expire within hours; "
             "nothing to recover, and PITR would cost money at rest."),
            (self.bucket, "AwsSolutions-S1",
             "Single-use overflow message bodies that expire after one day; access logs would "
             "need a second bucket per stage and would outlive the data they describe."),
            (self.connect_handler, "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:"
             "policy/service-role/AWSLambdaBasicExecutionRole]",
             "The AWS managed basic execution policy only lets the function write its logs."),
            (self.connect_handler, "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-"
             f"api:<AWS::Region>:<AWS::AccountId>:<{self.resolve(api_logical)}>/{stage}/*/"
             "@connections/*]",
             "Connection ids are only known at run time; the grant is limited to this stage "
             "of this stage's own API."),
            (self.api, "AwsSolutions-APIG4",
             "API Gateway WebSocket APIs authorize on $connect only (AWS_IAM here); "
             "$disconnect and $default run on an already authorized connection."),
            (self.ws_stage, "AwsSolutions-APIG1",
             "Stage access logs need the account-wide API Gateway CloudWatch role, which a "
             "per-developer stack must not change; the connect handler logs each connection."),
        ]  # fmt: skip
        for construct, rule, reason in acknowledgements:
            cdk.Validations.of(construct).acknowledge(
                cdk.Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason)
            )


@jsii.implements(cdk.IAspect)
class RolePath:
    """Aspect: put every IAM role under a path (some organisations require ``/team/``)."""

    def __init__(self, path: str) -> None:
        if not (path.startswith("/") and path.endswith("/")):
            raise ValueError(f"role path '{path}' must start and end with '/' (e.g. /dev/)")
        self.path = path

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, iam.CfnRole):
            node.path = self.path
        elif isinstance(node, cdk.CfnResource) and node.cfn_resource_type == "AWS::IAM::Role":
            node.add_property_override("Path", self.path)  # custom resource providers' roles


_LAPTOP_SETTINGS = frozenset({"redact"})


def customize_from_context(settings: dict[str, object] | None) -> Customize | None:
    """Build a customize hook from the ``relay`` key of ``cdk.json`` context.

    ``{"tags": {"team": "x"}, "permissionsBoundary": "name-or-arn", "rolePath": "/dev/"}``
    lets an enterprise apply its rules with no code.
    """
    # "redact" belongs to the laptop side (relay.record.redact), not to the debug stack
    settings = {k: v for k, v in (settings or {}).items() if k not in _LAPTOP_SETTINGS}
    if not settings:
        return None
    unknown = set(settings) - {"tags", "permissionsBoundary", "rolePath"}
    if unknown:
        raise ValueError(
            f"unknown relay settings in cdk.json context: {sorted(unknown)}; "
            "known: tags, permissionsBoundary, rolePath, redact"
        )

    def apply(stack: cdk.Stack) -> None:
        tags = settings.get("tags") or {}
        if not isinstance(tags, dict):
            raise ValueError("relay.tags in cdk.json context must be an object of strings")
        for key, value in tags.items():
            cdk.Tags.of(stack).add(str(key), str(value))
        boundary = settings.get("permissionsBoundary")
        if boundary:
            boundary = str(boundary)
            policy = (
                iam.ManagedPolicy.from_managed_policy_arn(stack, "RelayBoundary", boundary)
                if boundary.startswith("arn:")
                else iam.ManagedPolicy.from_managed_policy_name(stack, "RelayBoundary", boundary)
            )
            iam.PermissionsBoundary.of(stack).apply(policy)
        role_path = settings.get("rolePath")
        if role_path:
            cdk.Aspects.of(stack).add(RolePath(str(role_path)))

    return apply
