"""CloudFormation intrinsics and generated names, evaluated without an emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from relay.emulator.cfn import Resolver, Stack, Unresolvable, collect_exports, name_resources

REGION, ACCOUNT = "eu-west-1", "123456789012"


def _stack(resources: dict, **extra: object) -> Stack:
    stack = Stack("Shop", "shop-alice", {"Resources": resources, **extra}, Path("/assembly"))
    name_resources(stack, REGION, ACCOUNT)
    return stack


def test_generated_names_and_attributes_follow_cloudformation() -> None:
    stack = _stack(
        {
            "Orders": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
            "Named": {"Type": "AWS::DynamoDB::Table", "Properties": {"TableName": "orders"}},
            "Uploads": {"Type": "AWS::S3::Bucket", "Properties": {}},
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {}},
        }
    )
    orders = stack.refs["Orders"]
    assert orders.startswith("shop-alice-Orders-") and len(orders.rsplit("-", 1)[1]) == 12
    assert stack.refs["Named"] == "orders"
    assert stack.attrs[("Named", "Arn")] == f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders"
    bucket = stack.refs["Uploads"]
    assert bucket == bucket.lower() and bucket.startswith("shop-alice-uploads-")
    assert stack.attrs[("Uploads", "Arn")] == f"arn:aws:s3:::{bucket}"
    assert stack.attrs[("Fn", "Arn")] == (
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{stack.refs['Fn']}"
    )
    assert _stack({"Orders": {"Type": "AWS::DynamoDB::Table"}}).refs["Orders"] == orders


def test_intrinsics_evaluate_against_the_names() -> None:
    stack = _stack(
        {"Orders": {"Type": "AWS::DynamoDB::Table", "Properties": {"TableName": "orders"}}},
        Parameters={"Env": {"Type": "String", "Default": "dev"}},
    )
    resolve = Resolver(stack, REGION, ACCOUNT, {"shared-topic": "arn:topic"})
    assert resolve({"Ref": "Orders"}) == "orders"
    assert resolve({"Ref": "Env"}) == "dev"
    assert resolve({"Ref": "AWS::Region"}) == REGION
    assert resolve({"Fn::GetAtt": "Orders.Arn"}) == resolve({"Fn::GetAtt": ["Orders", "Arn"]})
    assert resolve({"Fn::Join": ["/", ["a", {"Ref": "Orders"}]]}) == "a/orders"
    assert resolve({"Fn::Sub": "${AWS::AccountId}:${Orders}:${Orders.Arn}"}) == (
        f"{ACCOUNT}:orders:arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders"
    )
    assert resolve({"Fn::Sub": ["${X}-${Env}", {"X": {"Ref": "Orders"}}]}) == "orders-dev"
    assert resolve({"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]}) == "b"
    assert resolve({"Fn::ImportValue": "shared-topic"}) == "arn:topic"
    assert resolve({"Key": {"Ref": "Orders"}}) == {"Key": "orders"}
    assert resolve(["x", {"Ref": "Orders"}]) == ["x", "orders"]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ({"Ref": "Missing"}, "Ref Missing"),
        ({"Fn::GetAtt": ["Orders", "StreamArn2"]}, "Fn::GetAtt Orders.StreamArn2"),
        ({"Fn::ImportValue": "nope"}, "Fn::ImportValue nope"),
        ({"Fn::FindInMap": ["M", "a", "b"]}, "Fn::FindInMap"),
    ],
)
def test_what_was_not_created_is_unresolvable(expression: dict, message: str) -> None:
    stack = _stack({"Orders": {"Type": "AWS::DynamoDB::Table", "Properties": {}}})
    with pytest.raises(Unresolvable) as caught:
        Resolver(stack, REGION, ACCOUNT, {})(expression)
    assert str(caught.value) == message


def test_exports_of_one_stack_resolve_in_another() -> None:
    producer = _stack(
        {"Orders": {"Type": "AWS::DynamoDB::Table", "Properties": {"TableName": "orders"}}},
        Outputs={
            "Table": {"Value": {"Ref": "Orders"}, "Export": {"Name": "shop-orders"}},
            "Broken": {"Value": {"Ref": "Nowhere"}, "Export": {"Name": "skipped"}},
            "Plain": {"Value": "not exported"},
        },
    )
    exports: dict[str, str] = {}
    collect_exports([producer], REGION, ACCOUNT, exports)
    assert exports == {"shop-orders": "orders"}
    consumer = _stack({})
    assert Resolver(consumer, REGION, ACCOUNT, exports)({"Fn::ImportValue": "shop-orders"}) == (
        "orders"
    )
