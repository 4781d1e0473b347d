"""relay/cloud/assembly.py: stacks of a cloud assembly written the way CDK writes one (a
``cdk.Stage`` is a nested assembly; a NestedStack's template is an asset of its parent)."""

from __future__ import annotations

import json
from pathlib import Path

from relay.cloud.assembly import Assembly, nested_template


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _stack_artifact(name: str, template: str) -> dict:
    return {
        "type": "aws:cloudformation:stack",
        "environment": "aws://unknown-account/unknown-region",
        "properties": {"templateFile": template, "stackName": name},
        "displayName": name,
    }


def test_stacks_of_nested_stages_are_keyed_by_node_path(tmp_path: Path) -> None:
    root = tmp_path / "cdk.out"
    _write(root / "Api.template.json", {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}})
    _write(root / "assembly-Prod" / "ProdApi.template.json", {"Resources": {}})
    _write(
        root / "manifest.json",
        {
            "artifacts": {
                "Api": _stack_artifact("Api", "Api.template.json"),
                "assembly-Prod": {
                    "type": "cdk:cloud-assembly",
                    "properties": {"directoryName": "assembly-Prod"},
                },
            }
        },
    )
    prod = _stack_artifact("Prod-Api", "ProdApi.template.json") | {"displayName": "Prod/Api"}
    _write(root / "assembly-Prod" / "manifest.json", {"artifacts": {"ProdApi": prod}})

    assembly = Assembly(root, cached=False)
    stacks = assembly.stacks()
    assert sorted(stacks) == ["Api", "Prod/Api"]
    assert stacks["Prod/Api"]["artifact_id"] == "ProdApi"
    assert stacks["Prod/Api"]["stack_name"] == "Prod-Api"
    assert stacks["Prod/Api"]["directory"] == root / "assembly-Prod"
    assert assembly.template("Api") == {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}
    assert assembly.live_record() is None  # not synthesized in live mode


def test_nested_stack_templates_are_followed_through_their_asset_paths(tmp_path: Path) -> None:
    inner = {"Resources": {"Fn": {"Type": "AWS::Lambda::Function"}}}
    _write(tmp_path / "ShopDataNested.nested.template.json", inner)
    parent = {
        "Resources": {
            "DataNested": {
                "Type": "AWS::CloudFormation::Stack",
                "Metadata": {"aws:asset:path": "ShopDataNested.nested.template.json"},
            },
            "Plain": {"Type": "AWS::CloudFormation::Stack"},
        }
    }
    stack = {"template": parent, "directory": tmp_path}
    assert nested_template(stack, []) == parent
    assert nested_template(stack, ["DataNested"]) == inner
    assert nested_template(stack, ["Plain"]) is None  # no asset: not a CDK NestedStack
    assert nested_template(stack, ["Missing"]) is None
