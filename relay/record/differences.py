"""Where two JSON documents differ, as short ``path: a != b`` lines (replay, observe mode).

HTTP responses carry their payload as a JSON string in ``body``; such strings are compared
as the documents they hold, so a difference is reported where it is, not as one long line.
"""

from __future__ import annotations

import json
from typing import Any

_MAX_LINES = 20


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    found: list[str] = []
    _walk(expected, actual, path, found)
    if len(found) > _MAX_LINES:
        found = [*found[:_MAX_LINES], f"... and {len(found) - _MAX_LINES} more"]
    return found


def _as_json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _walk(a: Any, b: Any, path: str, found: list[str]) -> None:
    a, b = _as_json(a), _as_json(b)
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            here = f"{path}.{key}" if path else str(key)
            if key not in b:
                found.append(f"{here}: {_short(a[key])} != (missing)")
            elif key not in a:
                found.append(f"{here}: (missing) != {_short(b[key])}")
            else:
                _walk(a[key], b[key], here, found)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _walk(x, y, f"{path}.{i}" if path else str(i), found)
    elif a != b or type(a) is not type(b):
        found.append(f"{path or '(whole)'}: {_short(a)} != {_short(b)}")


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."
