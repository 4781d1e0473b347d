"""CloudFormation intrinsic functions, evaluated against the names a stack's resources got."""

from __future__ import annotations

import re
from typing import Any

from relay.emulator.cfn.names import suffix
from relay.emulator.cfn.stack import Stack


class Unresolvable(Exception):
    """A CloudFormation expression refers to something the emulator did not create."""


class Resolver:
    """Evaluates Ref / GetAtt / Join / Sub / Select / Split / ImportValue for one stack."""

    def __init__(self, stack: Stack, region: str, account: str, exports: dict[str, str]):
        self.stack, self.region, self.account, self.exports = stack, region, account, exports

    def pseudo(self, name: str) -> str:
        values = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack.name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account}:stack/"
            f"{self.stack.name}/{suffix(self.stack.name, 'id')}",
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


def collect_exports(
    stacks: list[Stack], region: str, account: str, exports: dict[str, str]
) -> None:
    """Add every output export the stacks define (those that can be evaluated) to ``exports``."""
    for stack in stacks:
        resolve = Resolver(stack, region, account, exports)
        for output in stack.template.get("Outputs", {}).values():
            export = output.get("Export")
            if not export:
                continue
            try:
                exports[str(resolve(export["Name"]))] = str(resolve(output["Value"]))
            except Unresolvable:
                continue
