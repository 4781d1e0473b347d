"""Text edits to JSONC that keep comments: the shapes launch.json files come in."""

from __future__ import annotations

import json5
import pytest

from relay.debug import jsonc
from relay.debug.vscode import merge, merge_text


@pytest.mark.parametrize(
    "text",
    [
        "{}",
        "{ // nothing yet\n}",
        '{\n  "version": "0.2.0", // mine\n  "configurations": []\n}',
        '{\n\t"configurations": [\n\t\t{"name": "a", "type": "node"} // no trailing comma\n\t]\n}',
        '{"configurations": [{"name": "a"},], "inputs": [],} /* end */',
    ],
)
def test_merged_text_reads_as_the_merged_document_and_keeps_comments(text: str) -> None:
    edited, added, _ = merge_text(text)
    assert json5.loads(edited) == merge(json5.loads(text))[0]
    assert added == ["Debug relay start", "Attach to relay", "Debug tests"]
    for comment in ("// nothing yet", "// mine", "// no trailing comma", "/* end */"):
        assert (comment in edited) == (comment in text)


def test_strings_with_brackets_commas_and_comment_marks_are_not_structure() -> None:
    text = '{"configurations": [{"name": "x", "args": ["a,]}", "// not a comment"]}]}'
    root = jsonc.parse(text)
    [item] = root.members["configurations"].items
    assert text[item.start : item.end] == '{"name": "x", "args": ["a,]}", "// not a comment"]}'


def test_text_it_cannot_follow_is_an_error() -> None:
    with pytest.raises(jsonc.JsoncError):
        jsonc.parse('{"a": [1, 2}')
