"""What never reaches a recording: secret-looking headers and fields always, plus the JSON
paths the project lists (``relay.toml`` ``[record] redact = [...]`` or the ``relay`` context
of ``cdk.json``: ``{"context": {"relay": {"redact": [...]}}}``).

A path is dotted (``body.email``, ``Records.*.body``); ``*`` matches every key or item, and
a string that holds JSON (an HTTP ``body``) is entered as if it were an object.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

MASK = "***"

#: Header names whose values are credentials or sessions (matched case-insensitively).
_SECRET_NAME = re.compile(
    r"auth|token|secret|passw|cookie|api[-_]?key|session|signature|credential|x-amz-security",
    re.IGNORECASE,
)
#: Keys that hold credentials wherever they appear (IAM-authorised function URL events).
_SECRET_KEYS = frozenset(
    {"accessKey", "secretKey", "secretAccessKey", "sessionToken", "SessionToken"}
)
_HEADER_KEYS = frozenset({"headers", "multiValueHeaders"})


class RedactionConfigError(ValueError):
    """The project's redaction settings are unusable; the message says where and why."""


def load_paths(project: Path) -> list[str]:
    """The project's extra paths to mask, from relay.toml or cdk.json's ``relay`` context."""
    paths: list[str] = []
    toml_path = project / "relay.toml"
    if toml_path.is_file():
        try:
            data = tomllib.loads(toml_path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise RedactionConfigError(f"{toml_path} is not valid TOML: {exc}") from None
        paths += _paths_from(data.get("record", {}).get("redact", []), f"{toml_path} [record]")
    cdk_json = project / "cdk.json"
    if cdk_json.is_file():
        try:
            context = json.loads(cdk_json.read_text()).get("context", {})
        except ValueError:
            context = {}  # the CDK itself reports a broken cdk.json
        relay = context.get("relay", {}) if isinstance(context, dict) else {}
        if isinstance(relay, dict):
            paths += _paths_from(relay.get("redact", []), f"{cdk_json} context.relay")
    return paths


def _paths_from(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
        raise RedactionConfigError(
            f'{where}: redact must be a list of JSON paths such as ["body.email", '
            f'"headers.x-user"], got {value!r}'
        )
    return list(value)


def redact(document: Any, paths: list[str]) -> tuple[Any, list[str]]:
    """A copy with secrets and the given paths masked, and the paths that were masked."""
    masked: list[str] = []
    document = _mask_secrets(document, "", masked)
    for path in paths:
        document = _mask_path(document, path.split("."), path, masked)
    return document, masked


def may_need_masking(raw: bytes, paths: list[str]) -> bool:
    """False only when ``redact`` of the JSON ``raw`` decodes to would change nothing: no
    key of it can be secret and no path can match (a few substring scans of the bytes, where
    ``redact`` walks the whole document in Python; most events hold nothing secret).

    Sound because every key of ASCII JSON without ``\\u`` escapes is in its bytes verbatim
    (also inside a JSON string such as an HTTP body), and every key that is masked holds
    one of ``_SECRET_WORDS``, or every non-wildcard name of a path, in any case.
    """
    if not raw.isascii() or b"\\u" in raw:
        return True
    lowered = raw.lower()
    if len(lowered) > _WORDS_BY_FIND:
        if any(word in lowered for word in _SECRET_LITERALS):
            return True
    elif _SECRET_WORDS.search(lowered):
        return True
    for path in paths:
        if not path.isascii():
            return True
        names = [p for p in path.lower().split(".") if p != "*" and not p.isdigit()]
        if all(name.encode() in lowered for name in names):
            return True
    return False


#: What every key ``_mask_secrets`` masks holds, in lower case: a secret header's name or a
#: credential's key (accessKey; the other keys hold secret or session).
_SECRET_WORDS = re.compile(
    "|".join([_SECRET_NAME.pattern, *sorted(k.lower() for k in _SECRET_KEYS)]).encode()
)
#: The same words as plain strings (``api[-_]?key`` spelled out; secretkey, secretaccesskey
#: and sessiontoken hold secret or session). For a large payload a `find` per word is ~7x
#: faster than the alternation, which holds the GIL ~35 ms per MB (a 6 MB response: 214 ms).
_SECRET_LITERALS = (
    b"auth", b"token", b"secret", b"passw", b"cookie", b"apikey", b"api-key", b"api_key",
    b"session", b"signature", b"credential", b"x-amz-security", b"accesskey",
)  # fmt: skip
#: Above this size the literals are looked for one by one (below, the regex is faster).
_WORDS_BY_FIND = 64 * 1024


def _mask_secrets(node: Any, where: str, masked: list[str]) -> Any:
    # A key's path is only spelled out for what is masked or entered: building it for every
    # key was most of the walk.
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _SECRET_KEYS and value:
                out[key] = MASK
                masked.append(f"{where}.{key}" if where else str(key))
            elif isinstance(value, dict | list):
                here = f"{where}.{key}" if where else str(key)
                if key in _HEADER_KEYS and isinstance(value, dict):
                    out[key] = {
                        name: (MASK if _SECRET_NAME.search(str(name)) else v)
                        for name, v in value.items()
                    }
                    masked += [f"{here}.{n}" for n in value if _SECRET_NAME.search(str(n))]
                else:
                    out[key] = _mask_secrets(value, here, masked)
            else:
                out[key] = value
        return out
    if isinstance(node, list):
        # Scalars (most of a large event) need neither a path nor a call: that walk was
        # most of a recording's CPU (bench/bench_record.py).
        return [
            _mask_secrets(item, f"{where}.{i}" if where else str(i), masked)
            if isinstance(item, dict | list)
            else item
            for i, item in enumerate(node)
        ]
    return node


def _mask_path(node: Any, parts: list[str], path: str, masked: list[str]) -> Any:
    if not parts:
        if node is None:
            return node  # nothing to hide (and masking it would invent a difference)
        masked.append(path)
        return MASK
    if isinstance(node, str):  # a JSON body inside the event
        try:
            inner = json.loads(node)
        except ValueError:
            return node
        if not isinstance(inner, dict | list):
            return node
        changed = _mask_path(inner, parts, path, masked)
        return node if changed == inner else json.dumps(changed)
    head, rest = parts[0], parts[1:]
    if isinstance(node, dict):
        keys = list(node) if head == "*" else [k for k in node if k.lower() == head.lower()]
        if not keys:
            return node
        out = dict(node)
        for key in keys:
            out[key] = _mask_path(node[key], rest, path, masked)
        return out
    if isinstance(node, list):
        if head == "*":
            return [_mask_path(item, rest, path, masked) for item in node]
        if head.isdigit() and int(head) < len(node):
            out_list = list(node)
            out_list[int(head)] = _mask_path(node[int(head)], rest, path, masked)
            return out_list
    return node
