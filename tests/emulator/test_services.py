"""The app's data services from template resources, created in moto and read back with
boto3: names and Refs as CloudFormation gives them, dependency order, generated secrets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from relay.emulator import Emulator
from relay.emulator.cfn import Stack, Unresolvable
from relay.emulator.services import ServiceProvisioner, name_resource

TEMPLATE: dict[str, Any] = {
    "Resources": {
        # Declared before its dead-letter queue: creation must still put the DLQ first.
        "Jobs": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "VisibilityTimeout": 45,
                "RedrivePolicy": {"deadLetterTargetArn": "DLQ_ARN", "maxReceiveCount": 4},
            },
        },
        "Dead": {"Type": "AWS::SQS::Queue", "Properties": {}},
        "Ordered": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"FifoQueue": True, "ContentBasedDeduplication": True},
        },
        "Events": {"Type": "AWS::SNS::Topic", "Properties": {}},
        "ToJobs": {
            "Type": "AWS::SNS::Subscription",
            "Properties": {
                "TopicArn": "TOPIC_ARN",
                "Protocol": "sqs",
                "Endpoint": "JOBS_ARN",
                "FilterPolicy": {"kind": ["job"]},
                "RawMessageDelivery": True,
            },
        },
        "Db": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "GenerateSecretString": {
                    "SecretStringTemplate": '{"user": "app"}',
                    "GenerateStringKey": "password",
                    "PasswordLength": 24,
                    "ExcludePunctuation": True,
                }
            },
        },
        "Flag": {"Type": "AWS::SSM::Parameter", "Properties": {"Type": "String", "Value": "on"}},
        "Orders": {
            "Type": "AWS::DynamoDB::GlobalTable",
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "by", "AttributeType": "S"},
                ],
                "GlobalSecondaryIndexes": [
                    {
                        "IndexName": "ByCustomer",
                        "KeySchema": [{"AttributeName": "by", "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                ],
                "StreamSpecification": {"StreamViewType": "NEW_IMAGE"},
                "Replicas": [{"Region": "us-east-1"}],
            },
        },
    }
}


@pytest.fixture(scope="module")
def created(emu: Emulator) -> Stack:
    stack = Stack("svc", "svc", json.loads(json.dumps(TEMPLATE)), Path("."))
    for logical, resource in stack.template["Resources"].items():
        assert name_resource(
            stack,
            logical,
            resource["Type"],
            resource["Properties"],
            region=emu.region,
            account=emu.account_id,
            endpoint_url=emu.endpoint_url,
        )
    values = {
        "DLQ_ARN": stack.attrs[("Dead", "Arn")],
        "TOPIC_ARN": stack.refs["Events"],
        "JOBS_ARN": stack.attrs[("Jobs", "Arn")],
    }

    def resolve(value: Any) -> Any:  # stands in for the template's Fn::GetAtt / Ref
        text = json.dumps(value)
        for placeholder, real in values.items():
            text = text.replace(f'"{placeholder}"', json.dumps(real))
        return json.loads(text)

    warnings: list[str] = []
    ServiceProvisioner(emu.service_client, warnings).create(stack, resolve, Unresolvable)
    assert warnings == []
    return stack


def test_queue_ref_is_its_url_and_the_redrive_points_at_the_dlq(
    emu: Emulator, created: Stack
) -> None:
    sqs = emu.service_client("sqs")
    url = created.refs["Jobs"]
    assert url.startswith(f"{emu.endpoint_url}/{emu.account_id}/svc-Jobs-")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "45"
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": created.attrs[("Dead", "Arn")],
        "maxReceiveCount": 4,
    }


def test_fifo_queue_name_ends_in_fifo(emu: Emulator, created: Stack) -> None:
    name = created.attrs[("Ordered", "QueueName")]
    assert name.endswith(".fifo")
    attributes = emu.service_client("sqs").get_queue_attributes(
        QueueUrl=created.refs["Ordered"], AttributeNames=["All"]
    )["Attributes"]
    assert attributes["FifoQueue"] == "true"
    assert attributes["ContentBasedDeduplication"] == "true"


def test_topic_subscription_keeps_filter_and_raw_delivery(emu: Emulator, created: Stack) -> None:
    sns, sqs = emu.service_client("sns"), emu.service_client("sqs")
    sns.publish(
        TopicArn=created.refs["Events"],
        Message="skip",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "other"}},
    )
    sns.publish(
        TopicArn=created.refs["Events"],
        Message="run",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "job"}},
    )
    got = sqs.receive_message(QueueUrl=created.refs["Jobs"], WaitTimeSeconds=5)["Messages"]
    assert [m["Body"] for m in got] == ["run"]  # raw delivery, filtered


def test_generated_secret_follows_its_template(emu: Emulator, created: Stack) -> None:
    arn = created.refs["Db"]
    assert arn.startswith(f"arn:aws:secretsmanager:{emu.region}:{emu.account_id}:secret:Db-")
    value = json.loads(
        emu.service_client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    )
    assert value["user"] == "app" and len(value["password"]) == 24
    assert value["password"].isalnum()


def test_parameter_and_global_table(emu: Emulator, created: Stack) -> None:
    parameter = emu.service_client("ssm").get_parameter(Name=created.refs["Flag"])["Parameter"]
    assert parameter["Value"] == "on" and parameter["Type"] == "String"
    table = emu.service_client("dynamodb").describe_table(TableName=created.refs["Orders"])["Table"]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["ByCustomer"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_state_machine_is_stored_with_its_substituted_definition(emu: Emulator) -> None:
    template = {
        "Resources": {
            "Flow": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "DefinitionString": '{"StartAt": "A", "States": {"A": {"Type": "Pass", '
                    '"Result": "${greeting}", "End": true}}}',
                    "DefinitionSubstitutions": {"greeting": "hi"},
                    "RoleArn": f"arn:aws:iam::{emu.account_id}:role/flow",
                },
            }
        }
    }
    stack = Stack("sfn", "sfn", template, Path("."))
    props = template["Resources"]["Flow"]["Properties"]
    name_resource(
        stack,
        "Flow",
        "AWS::StepFunctions::StateMachine",
        props,
        region=emu.region,
        account=emu.account_id,
        endpoint_url=emu.endpoint_url,
    )
    ServiceProvisioner(emu.service_client, []).create(stack, lambda v: v, Unresolvable)
    sfn = emu.service_client("stepfunctions")
    machine = sfn.describe_state_machine(stateMachineArn=stack.refs["Flow"])
    assert json.loads(machine["definition"])["States"]["A"]["Result"] == "hi"
    execution = sfn.start_execution(stateMachineArn=stack.refs["Flow"], input="{}")
    assert execution["executionArn"].startswith(f"arn:aws:states:{emu.region}:")
