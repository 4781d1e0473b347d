"""`relay init vscode`: relay's launch configurations, merged into a project's launch.json.

VS Code writes launch.json as JSONC (comments, trailing commas), so it is read with json5; the
merge replaces relay's own configurations (matched by name) and keeps every other one, and
the file's comments and layout (the edit is made on the text, see relay/debug/jsonc.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import json5

from relay.debug import jsonc
from relay.debug.options import DEFAULT_PORT

STAGE_INPUT = "relayStage"
TESTS_INPUT = "pytestArgs"


def configurations(*, port: int = DEFAULT_PORT) -> list[dict[str, Any]]:
    """relay's three launch configurations (the repository's .vscode/launch.json has these)."""
    return [
        {
            "name": "Debug relay start",
            "type": "debugpy",
            "request": "launch",
            "module": "relay",
            # An empty answer passes `--stage=`, which falls back to .relay/stage.
            "args": ["start", f"--stage=${{input:{STAGE_INPUT}}}"],
            "subProcess": True,
            "justMyCode": True,
            "console": "integratedTerminal",
            "cwd": "${workspaceFolder}",
        },
        {
            "name": "Attach to relay",
            "type": "debugpy",
            "request": "attach",
            "connect": {"host": "127.0.0.1", "port": port},
            "subProcess": True,
            "justMyCode": True,
        },
        {
            "name": "Debug tests",
            "type": "debugpy",
            "request": "launch",
            "module": "pytest",
            "args": ["-x", f"${{input:{TESTS_INPUT}}}"],
            "subProcess": True,
            "justMyCode": False,
            "console": "integratedTerminal",
            "cwd": "${workspaceFolder}",
        },
    ]


def inputs(*, tests: str = "tests") -> list[dict[str, Any]]:
    return [
        {
            "id": STAGE_INPUT,
            "type": "promptString",
            "description": "relay stage (leave empty to use .relay/stage)",
            "default": "",
        },
        {
            "id": TESTS_INPUT,
            "type": "promptString",
            "description": "pytest target (file, folder or file::test)",
            "default": tests,
        },
    ]


def launch_document(*, tests: str = "tests") -> dict[str, Any]:
    return {"version": "0.2.0", "configurations": configurations(), "inputs": inputs(tests=tests)}


class LaunchFileError(ValueError):
    """The existing launch.json cannot be merged; the message says why and what to do."""


def _merge_named(
    existing: list[Any], ours: list[dict[str, Any]], key: str
) -> tuple[list[Any], list[str], list[str]]:
    """Replace items whose `key` matches one of ours, append the rest; keep all others."""
    by_key = {item[key]: item for item in ours}
    merged: list[Any] = []
    updated: list[str] = []
    for item in existing:
        name = item.get(key) if isinstance(item, dict) else None
        if isinstance(name, str) and name in by_key:
            replacement = by_key.pop(name)
            if replacement != item:
                updated.append(name)
            merged.append(replacement)
        else:
            merged.append(item)
    added = list(by_key)
    merged.extend(by_key.values())
    return merged, added, updated


def merge(document: Any, *, tests: str = "tests") -> tuple[dict[str, Any], list[str], list[str]]:
    """relay's configurations and inputs merged into a parsed launch.json document."""
    if not isinstance(document, dict):
        raise LaunchFileError("its top level is not an object ({...})")
    result = dict(document)
    result.setdefault("version", "0.2.0")
    for field in ("configurations", "inputs"):
        if not isinstance(result.get(field, []), list):
            raise LaunchFileError(f'its "{field}" is not a list')
    configs, added, updated = _merge_named(
        result.get("configurations", []), configurations(), "name"
    )
    result["configurations"] = configs
    result["inputs"], _, _ = _merge_named(result.get("inputs", []), inputs(tests=tests), "id")
    return result, added, updated


def merge_text(text: str, *, tests: str = "tests") -> tuple[str, list[str], list[str]]:
    """launch.json's text with relay's configurations merged in, comments and layout kept.

    The edit is made on the text (relay.debug.jsonc) and checked by parsing the result: it
    must read back as `merge()` of the parsed file, else a plain rewrite is returned.
    """
    document = json5.loads(text)
    merged, added, updated = merge(document, tests=tests)
    try:
        root = jsonc.parse(text)
        editor = jsonc.Editor(text)
        new_members = [] if "version" in root.members else ['"version": "0.2.0"']
        for field, ours, key in (
            ("configurations", configurations(), "name"),
            ("inputs", inputs(tests=tests), "id"),
        ):
            array = root.members.get(field)
            if array is None:
                indent = jsonc.item_indent(text, root)
                new_members.append(f'"{field}": {jsonc.render(merged[field], indent)}')
                continue
            by_key = {item[key]: item for item in ours}
            for node, value in zip(array.items, document.get(field, []), strict=True):
                name = value.get(key) if isinstance(value, dict) else None
                if name in by_key:
                    replacement = by_key.pop(name)
                    if replacement != value:
                        editor.replace(node, replacement)
            if by_key:
                indent = jsonc.item_indent(text, array)
                editor.append(array, [jsonc.render(v, indent) for v in by_key.values()])
        if new_members:
            editor.append(root, new_members)
        edited = editor.result()
        if json5.loads(edited) == merged:
            return edited, added, updated
    except (jsonc.JsoncError, ValueError):
        pass
    return json.dumps(merged, indent=4) + "\n", added, updated


def _where_the_app_is(project: Path) -> str:
    if (project / "cdk.json").is_file():
        return ""
    return (
        f" There is no cdk.json in {project}: relay expects your CDK app's folder (the one "
        "with cdk.json) as the workspace, or pass --app DIR; the configurations run relay "
        "from the workspace folder."
    )


def init_vscode(project: Path) -> int:
    """Write or merge .vscode/launch.json in `project`; returns the process exit code."""
    path = project / ".vscode" / "launch.json"
    tests = "tests" if (project / "tests").is_dir() else "."
    note = _where_the_app_is(project)
    if path.exists():
        text = path.read_text(encoding="utf-8")
        try:
            if text.strip():
                edited, added, updated = merge_text(text, tests=tests)
            else:
                edited, added, updated = merge_text("{}", tests=tests)
        except (ValueError, LaunchFileError) as exc:
            reason = str(exc).replace("<string>", str(path))
            print(
                f"relay: error: {path} is not a launch file relay can merge into: {reason}. "
                "Nothing was changed. Fix or move the file, then run `relay init vscode` again.",
                file=sys.stderr,
            )
            return 1
        if not added and not updated:
            print(f"relay: {path} already has relay's launch configurations.{note}")
            return 0
        backup = path.with_name("launch.json.bak")
        backup.write_text(text, encoding="utf-8")
        path.write_text(edited, encoding="utf-8")
        changes = [f"added {name!r}" for name in added] + [f"updated {n!r}" for n in updated]
        print(
            f"relay: {path}: {', '.join(changes)}; other configurations and comments kept "
            f"(previous file saved as {backup.name}).{note}"
        )
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(launch_document(tests=tests), indent=4) + "\n", encoding="utf-8")
    print(
        f"relay: wrote {path} with 'Debug relay start', 'Attach to relay' and 'Debug tests'.{note}"
    )
    return 0
