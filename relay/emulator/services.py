"""The app's data-service resources in moto, from the synthesized templates: SQS queues (DLQs
first, FIFO), SNS topics and their non-Lambda subscriptions, Secrets Manager secrets (with
generated values), SSM parameters and DynamoDB global tables (`TableV2`).

Names follow CloudFormation's pattern (`<stack>-<logical id>-<suffix>`) unless the template
names the resource, and `Ref`/`Fn::GetAtt` give what CloudFormation would (a queue's Ref is
its URL), so environment variables hold the local names.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger("relay.emulator")

#: Resource types this module names and creates.
HANDLED = {
    "AWS::SQS::Queue",
    "AWS::SNS::Topic",
    "AWS::SNS::Subscription",
    "AWS::SecretsManager::Secret",
    "AWS::SSM::Parameter",
    "AWS::DynamoDB::GlobalTable",
    "AWS::StepFunctions::StateMachine",
}
#: Types that only matter in real AWS (policies); nothing to do locally.
NOT_NEEDED = {
    "AWS::SQS::QueuePolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::ApiGateway::Account",
    "AWS::SecretsManager::SecretTargetAttachment",
    "AWS::Logs::LogGroup",
}


class Stack(Protocol):
    name: str
    template: dict[str, Any]
    refs: dict[str, str]
    attrs: dict[tuple[str, str], str]


def _suffix(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:12].upper()


def generated_name(stack: Stack, logical: str, limit: int, end: str = "") -> str:
    suffix = _suffix(stack.name, logical)
    head = f"{stack.name}-{logical}"[: limit - len(suffix) - 1 - len(end)]
    return f"{head}-{suffix}{end}"


def name_resource(
    stack: Stack,
    logical: str,
    kind: str,
    props: dict[str, Any],
    *,
    region: str,
    account: str,
    endpoint_url: str,
) -> bool:
    """Physical names and attributes for the kinds above; False for any other kind."""
    refs, attrs = stack.refs, stack.attrs
    literal = {k: str(v) for k, v in props.items() if isinstance(v, str)}
    flags = {k: v is True or v == "true" for k, v in props.items()}
    if kind == "AWS::SQS::Queue":
        fifo = flags.get("FifoQueue", False)
        name = literal.get("QueueName") or generated_name(
            stack, logical, 80, ".fifo" if fifo else ""
        )
        url = f"{endpoint_url}/{account}/{name}"
        refs[logical] = url
        attrs[(logical, "Arn")] = f"arn:aws:sqs:{region}:{account}:{name}"
        attrs[(logical, "QueueName")] = name
        attrs[(logical, "QueueUrl")] = url
    elif kind == "AWS::SNS::Topic":
        fifo = flags.get("FifoTopic", False)
        name = literal.get("TopicName") or generated_name(
            stack, logical, 256, ".fifo" if fifo else ""
        )
        arn = f"arn:aws:sns:{region}:{account}:{name}"
        refs[logical] = arn
        attrs[(logical, "TopicArn")] = arn
        attrs[(logical, "TopicName")] = name
    elif kind == "AWS::SSM::Parameter":
        name = literal.get("Name") or f"CFN-{logical}-{_suffix(stack.name, logical)}"
        refs[logical] = name
        attrs[(logical, "Type")] = str(literal.get("Type", "String"))
        attrs[(logical, "Value")] = str(literal.get("Value", ""))
    elif kind == "AWS::DynamoDB::GlobalTable":
        name = literal.get("TableName") or generated_name(stack, logical, 255)
        arn = f"arn:aws:dynamodb:{region}:{account}:table/{name}"
        refs[logical] = name
        attrs[(logical, "Arn")] = arn
        attrs[(logical, "StreamArn")] = f"{arn}/stream/1970-01-01T00:00:00.000"
        attrs[(logical, "TableId")] = _suffix(stack.name, logical, "id").lower()
    elif kind == "AWS::SecretsManager::Secret":
        name = literal.get("Name") or f"{logical}-{_suffix(stack.name, logical)[:12]}"
        # Secrets Manager adds six random characters to the ARN; fixed when created.
        refs[logical] = f"arn:aws:secretsmanager:{region}:{account}:secret:{name}"
        attrs[(logical, "Id")] = refs[logical]
    elif kind == "AWS::StepFunctions::StateMachine":
        name = literal.get("StateMachineName") or generated_name(stack, logical, 80)
        arn = f"arn:aws:states:{region}:{account}:stateMachine:{name}"
        refs[logical] = arn
        attrs[(logical, "Arn")] = arn
        attrs[(logical, "Name")] = name
    elif kind == "AWS::SNS::Subscription":
        pass  # the ARN is known once subscribed
    else:
        return False
    return True


class ServiceProvisioner:
    """Creates one stack's resources in moto, in dependency order."""

    def __init__(self, client: Callable[[str], Any], warnings: list[str]) -> None:
        self.client = client
        self.warnings = warnings

    def create(
        self, stack: Stack, resolve: Callable[[Any], Any], unresolvable: type[Exception]
    ) -> None:
        resources = stack.template.get("Resources", {})

        def of(kind: str) -> list[tuple[str, dict[str, Any]]]:
            found = []
            for logical, resource in resources.items():
                if resource.get("Type") != kind:
                    continue
                try:
                    found.append((logical, resolve(resource.get("Properties", {}))))
                except unresolvable as exc:
                    self.warnings.append(
                        f"{stack.name}/{logical} ({kind}) not created: {exc} "
                        "is not emulated locally"
                    )
            return found

        for logical, props in of("AWS::SecretsManager::Secret"):
            self._secret(stack, logical, props)
        for logical, props in of("AWS::DynamoDB::GlobalTable"):
            self._global_table(stack.refs[logical], props)
        queues = of("AWS::SQS::Queue")
        # Dead-letter queues first: a redrive policy names an existing queue.
        for logical, props in sorted(queues, key=lambda q: "RedrivePolicy" in q[1]):
            self._queue(stack.attrs[(logical, "QueueName")], props)
        for logical, props in of("AWS::SNS::Topic"):
            self._topic(stack.refs[logical], props)
        for logical, props in of("AWS::SNS::Subscription"):
            if props.get("Protocol") == "lambda":
                continue  # wired to the function by the event sources
            stack.refs[logical] = self.subscribe(props)
        for logical, props in of("AWS::StepFunctions::StateMachine"):
            self._state_machine(stack.attrs[(logical, "Name")], props)
        for logical, props in of("AWS::SSM::Parameter"):
            self._parameter(stack.refs[logical], props)
            stack.attrs[(logical, "Value")] = str(props.get("Value", ""))

    # -- one resource each -------------------------------------------------------------

    def _queue(self, name: str, props: dict[str, Any]) -> None:
        attributes: dict[str, str] = {}
        for key in (
            "DelaySeconds",
            "MaximumMessageSize",
            "MessageRetentionPeriod",
            "ReceiveMessageWaitTimeSeconds",
            "VisibilityTimeout",
            "FifoQueue",
            "ContentBasedDeduplication",
            "DeduplicationScope",
            "FifoThroughputLimit",
        ):
            if key in props:
                value = props[key]
                attributes[key] = str(value).lower() if isinstance(value, bool) else str(value)
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        self.client("sqs").create_queue(QueueName=name, Attributes=attributes)

    def _topic(self, arn: str, props: dict[str, Any]) -> None:
        attributes = {}
        if props.get("FifoTopic"):
            attributes["FifoTopic"] = "true"
        if props.get("ContentBasedDeduplication"):
            attributes["ContentBasedDeduplication"] = "true"
        sns = self.client("sns")
        sns.create_topic(Name=arn.rsplit(":", 1)[1], Attributes=attributes)
        for subscription in props.get("Subscription") or []:
            if subscription.get("Protocol") != "lambda":  # functions: see fronts.wiring
                self.subscribe({"TopicArn": arn, **subscription})

    def subscribe(self, props: dict[str, Any]) -> str:
        attributes: dict[str, str] = {}
        for key in ("FilterPolicy", "RedrivePolicy"):
            if key in props:
                attributes[key] = json.dumps(props[key])
        for key in ("RawMessageDelivery", "FilterPolicyScope"):
            if key in props:
                value = props[key]
                attributes[key] = str(value).lower() if isinstance(value, bool) else str(value)
        return str(
            self.client("sns").subscribe(
                TopicArn=props["TopicArn"],
                Protocol=props["Protocol"],
                Endpoint=props["Endpoint"],
                Attributes=attributes,
                ReturnSubscriptionArn=True,
            )["SubscriptionArn"]
        )

    def _secret(self, stack: Stack, logical: str, props: dict[str, Any]) -> None:
        secrets = self.client("secretsmanager")
        name = stack.refs[logical].rsplit(":", 1)[1]
        value = props.get("SecretString")
        generate = props.get("GenerateSecretString")
        if value is None and generate is not None:
            options = {
                k: v
                for k, v in generate.items()
                if k
                in {
                    "PasswordLength",
                    "ExcludeCharacters",
                    "ExcludeNumbers",
                    "ExcludePunctuation",
                    "ExcludeUppercase",
                    "ExcludeLowercase",
                    "IncludeSpace",
                    "RequireEachIncludedType",
                }
            }
            password = secrets.get_random_password(**options)["RandomPassword"]
            template, key = generate.get("SecretStringTemplate"), generate.get("GenerateStringKey")
            if template and key:
                document = json.loads(template)
                document[key] = password
                value = json.dumps(document)
            else:
                value = password
        try:
            arn = secrets.create_secret(
                Name=name, SecretString=value or "", Description=props.get("Description", "")
            )["ARN"]
        except secrets.exceptions.ResourceExistsException:
            arn = secrets.describe_secret(SecretId=name)["ARN"]  # a longer-lived emulator
        stack.refs[logical] = arn
        stack.attrs[(logical, "Id")] = arn

    def _state_machine(self, name: str, props: dict[str, Any]) -> None:
        """moto stores the machine (StartExecution, DescribeExecution work); it does not run
        the states, so Lambda tasks are not invoked."""
        definition = props.get("DefinitionString")
        if definition is None:
            definition = json.dumps(props.get("Definition", {}))
        for key, value in (props.get("DefinitionSubstitutions") or {}).items():
            definition = str(definition).replace("${" + key + "}", str(value))
        sfn = self.client("stepfunctions")
        with contextlib.suppress(sfn.exceptions.StateMachineAlreadyExists):  # longer-lived
            sfn.create_state_machine(
                name=name,
                definition=str(definition),
                type=props.get("StateMachineType", "STANDARD"),
                roleArn=str(props.get("RoleArn", "arn:aws:iam::123456789012:role/relay-local")),
            )

    def _parameter(self, name: str, props: dict[str, Any]) -> None:
        kind = props.get("Type", "String")
        self.client("ssm").put_parameter(
            Name=name,
            Value=str(props.get("Value", "")),
            Type=kind,
            Overwrite=True,
            Description=props.get("Description", ""),
        )

    def _global_table(self, name: str, props: dict[str, Any]) -> None:
        ddb = self.client("dynamodb")
        request: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if request["BillingMode"] == "PROVISIONED":
            request["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        indexes = []
        for index in props.get("GlobalSecondaryIndexes") or []:
            gsi = {k: index[k] for k in ("IndexName", "KeySchema", "Projection")}
            if request["BillingMode"] == "PROVISIONED":
                gsi["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
            indexes.append(gsi)
        if indexes:
            request["GlobalSecondaryIndexes"] = indexes
        if props.get("LocalSecondaryIndexes"):
            request["LocalSecondaryIndexes"] = props["LocalSecondaryIndexes"]
        stream = props.get("StreamSpecification")
        if stream:
            request["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        create_table(ddb, request, props.get("TimeToLiveSpecification"))


def create_table(ddb: Any, request: dict[str, Any], ttl: dict[str, Any] | None) -> None:
    """Create a table (Table or TableV2) and its TTL; an existing one is kept as it is."""
    try:
        ddb.create_table(**request)
    except ddb.exceptions.ResourceInUseException:
        return  # an emulator that outlives one start keeps its data
    if ttl and ttl.get("Enabled"):
        ddb.update_time_to_live(
            TableName=request["TableName"],
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
        )
