"""Compare an event relay built with the skeleton of AWS's documented example (data/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"

#: Keys whose values are free-form maps (or null): only their type is compared.
FREE_FORM = {
    "headers", "multiValueHeaders", "queryStringParameters", "multiValueQueryStringParameters",
    "pathParameters", "stageVariables", "messageAttributes", "MessageAttributes", "detail",
    "attributes", "userIdentity", "requestParameters", "responseElements",
}  # fmt: skip


def documented(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def differences(actual: Any, expected: Any, where: str = "$") -> list[str]:
    """Missing/unexpected keys and type mismatches; null and a value of the documented type
    are both accepted where the documentation shows either (e.g. absent query → null)."""
    problems: list[str] = []
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in expected.keys() - actual.keys():
            problems.append(f"{where}.{key}: missing")
        for key in actual.keys() - expected.keys():
            problems.append(f"{where}.{key}: not in AWS's example")
        for key in expected.keys() & actual.keys():
            if key in FREE_FORM:
                if actual[key] is not None and not isinstance(actual[key], dict):
                    problems.append(f"{where}.{key}: {_kind(actual[key])}, not an object")
                continue
            problems.extend(differences(actual[key], expected[key], f"{where}.{key}"))
        return problems
    if isinstance(expected, list) and isinstance(actual, list):
        if expected and actual:
            for index, item in enumerate(actual):
                problems.extend(differences(item, expected[0], f"{where}[{index}]"))
        return problems
    if None in (actual, expected) or _kind(actual) == _kind(expected):
        return problems
    return [f"{where}: {_kind(actual)}, AWS's example has {_kind(expected)}"]
