"""Edits to a JSONC document (VS Code's launch.json) that keep its comments and layout.

json5 reads JSONC but cannot write it back with its comments, and json-five (which can)
installs under the same module name as json5. Relay's edits are small, so they are made on
the text: find where an array's items and the top-level members are, then replace an item or
insert one before a closing bracket. The caller checks the result by parsing it again.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<line_comment>//[^\n]*)
  | (?P<block_comment>/\*.*?\*/)
  | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')
  | (?P<punct>[{}\[\]:,])
  | (?P<word>[^\s{}\[\]:,"'/]+)
    """,
    re.VERBOSE | re.DOTALL,
)


class JsoncError(ValueError):
    """Text the scanner cannot follow (json5 would have refused it too)."""


@dataclass
class Node:
    """A value's span in the text; arrays know their items, objects their members."""

    start: int
    end: int  # one past the last character
    items: list[Node] = field(default_factory=list)
    members: dict[str, Node] = field(default_factory=dict)
    close: int = -1  # index of the closing bracket (arrays and objects)
    trailing_comma: bool = False
    tail: int = -1  # where a new item goes: after the last item (and its comma, if any)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    found = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise JsoncError(f"unexpected character at offset {position}")
        kind = match.lastgroup or ""
        if kind not in ("space", "line_comment", "block_comment"):
            found.append((kind, match.group(), position))
        position = match.end()
    return found


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0

    def _next(self) -> tuple[str, str, int]:
        if self.at >= len(self.tokens):
            raise JsoncError("the text ends too early")
        token = self.tokens[self.at]
        self.at += 1
        return token

    def _peek(self) -> str:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else ""

    def value(self) -> Node:
        kind, text, start = self._next()
        if text == "{":
            return self._container(start, "}", keyed=True)
        if text == "[":
            return self._container(start, "]", keyed=False)
        if kind in ("string", "word"):
            return Node(start, start + len(text))
        raise JsoncError(f"unexpected {text!r} at offset {start}")

    def _container(self, start: int, closer: str, *, keyed: bool) -> Node:
        node = Node(start, start)
        while True:
            if self._peek() == closer:
                _, _, close = self._next()
                node.close, node.end = close, close + 1
                return node
            key = ""
            if keyed:
                kind, text, _ = self._next()
                key = json.loads(text) if kind == "string" and text[0] == '"' else text.strip("'")
                if self._next()[1] != ":":
                    raise JsoncError(f"no ':' after the key {key!r}")
            item = self.value()
            if keyed:
                node.members[key] = item
            else:
                node.items.append(item)
            separator = self._peek()
            node.trailing_comma, node.tail = False, item.end
            if separator == ",":
                _, _, comma = self._next()
                node.trailing_comma, node.tail = True, comma + 1
            elif separator != closer:
                raise JsoncError(f"expected ',' or {closer!r} at token {separator!r}")


def parse(text: str) -> Node:
    """The spans of the document's values (the text must hold one object or array)."""
    parser = _Parser(text)
    root = parser.value()
    if parser.at != len(parser.tokens):
        raise JsoncError("text after the end of the document")
    return root


def _indent_of(text: str, position: int) -> str:
    """The leading whitespace of the line that `position` is on."""
    line_start = text.rfind("\n", 0, position) + 1
    line = text[line_start:position]
    return line[: len(line) - len(line.lstrip())]


def item_indent(text: str, container: Node) -> str:
    """How the container's items (or members) are indented, or one level in if it is empty."""
    existing = container.items or list(container.members.values())
    same_line = existing and "\n" not in text[container.start : existing[0].start]
    if existing and not same_line:
        return _indent_of(text, existing[0].start)
    return _indent_of(text, container.start) + "    "


def render(value: Any, indent: str) -> str:
    """JSON for `value`, its continuation lines indented to sit at `indent`."""
    return json.dumps(value, indent=4).replace("\n", "\n" + indent)


class Editor:
    """Collects edits against the original text, then applies them back to front."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.edits: list[tuple[int, int, str]] = []

    def replace(self, node: Node, value: Any) -> None:
        self.edits.append((node.start, node.end, render(value, _indent_of(self.text, node.start))))

    def append(self, container: Node, rendered: list[str]) -> None:
        """Insert rendered items (or `"key": value` members) before the container's closer."""
        indent = item_indent(self.text, container)
        existing = container.items or list(container.members.values())
        after = container.tail if existing else container.start + 1
        body = ",".join(f"\n{indent}{item}" for item in rendered)
        if container.trailing_comma:
            body += ","  # keep the file's own style
        elif existing:
            body = "," + body
        if not existing:
            body += "\n" + _indent_of(self.text, container.start)
        self.edits.append((after, after, body))

    def result(self) -> str:
        text = self.text
        for start, end, new in sorted(self.edits, reverse=True):
            text = text[:start] + new + text[end:]
        return text
