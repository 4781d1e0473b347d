"""`relay replay ID --as-test FILE`: a recorded live invocation as a readable pytest case.

The test calls the handler through relay's local runtime (:func:`relay.testing.invoke_handler`)
with the recorded event and asserts the recorded answer; for a recorded error it asserts that
the handler no longer fails. Paths are written relative to the test file, so the project can
move and the test still finds its code.
"""

from __future__ import annotations

import os
import pprint
import re
from pathlib import Path
from typing import Any

_TEMPLATE = '''"""Regression test for {title}, from the live invocation {id} recorded {time}.

Written by `relay replay {id} --as-test`: it runs the handler through relay's local runtime
(a real Lambda runtime client, in its own process) with the recorded event{masked}.
"""

import json
from pathlib import Path

from relay.testing import error_of, invoke_handler

HERE = Path(__file__).parent
CODE_DIR = HERE / {code_dir!r}
LAYERS = [{layers}]
SOURCE_LAYERS = [{source_layers}]
HANDLER = {handler!r}
# The function's environment variables were never recorded: add what the handler reads.
ENVIRONMENT: dict[str, str] = {{}}

EVENT = {event}
{expected}

def {test_name}():
    {docstring}result = invoke_handler(
        HANDLER, CODE_DIR, EVENT, layers=LAYERS, source_layers=SOURCE_LAYERS,
        environment=ENVIRONMENT, runtime={runtime!r}, timeout={timeout!r}, memory_mb={memory!r},
    )
{asserts}'''


def render_test(record: dict[str, Any], test_file: Path) -> str:
    """The test module's source for ``record``, to be written at ``test_file``."""
    function = record.get("function") or {}
    context = record.get("context") or {}
    here = test_file.resolve().parent
    handler = function.get("handler") or ""
    redacted = record.get("redacted") or []
    masked = f"\n(masked before recording: {', '.join(redacted)})" if redacted else ""
    expected, asserts, docstring = _expectations(record)
    return _TEMPLATE.format(
        title=function.get("function_path") or function.get("name") or handler,
        id=record["id"],
        time=record.get("time", ""),
        masked=masked,
        code_dir=_relative(function["code_dir"], here),
        layers=_folders(function.get("layers"), here),
        source_layers=_folders(function.get("source_layers"), here),
        runtime=function.get("runtime") or "",
        handler=handler,
        event=_literal(record.get("event")),
        expected=expected,
        test_name=_test_name(handler, record["id"], record.get("status") == "error"),
        docstring=docstring,
        timeout=float(context.get("timeout_s") or 3.0),
        memory=int(context.get("memory_mb") or 128),
        asserts=asserts,
    )


def _folders(paths: list[str] | None, here: Path) -> str:
    return ", ".join(f"HERE / {_relative(p, here)!r}" for p in paths or [])


def write_test(record: dict[str, Any], test_file: Path) -> Path:
    """Write the test; an existing file is never overwritten."""
    from relay.record.replay import replay_config

    replay_config(record)  # the code folder must exist for the test to mean anything
    if test_file.exists():
        raise FileExistsError(
            f"{test_file} already exists; pass a new file name to --as-test "
            "(relay never overwrites a test)"
        )
    source = render_test(record, test_file)
    test_file.parent.mkdir(parents=True, exist_ok=True)
    test_file.write_text(source)
    return test_file


def _expectations(record: dict[str, Any]) -> tuple[str, str, str]:
    """(module constant, the test's asserts, the test's docstring line)."""
    if record.get("status") == "error":
        error = record.get("error") or {}
        was = f"{error.get('type') or 'Error'}: {error.get('message') or ''}".strip()
        docstring = f'"""It failed live with {_one_line(was)}; it must not any more."""\n    '
        asserts = "    assert error_of(result) is None, result.payload.decode()\n"
        return "", asserts, docstring
    asserts = "    assert error_of(result) is None, result.payload.decode()\n"
    if "result_text" in record:
        constant = f"\nEXPECTED = {record['result_text'].encode()!r}\n"
        asserts += "    assert result.payload == EXPECTED\n"
    else:
        constant = f"\nEXPECTED = {_literal(record.get('result'))}\n"
        asserts += "    assert json.loads(result.payload) == EXPECTED\n"
    return constant, asserts, ""


def _literal(value: Any) -> str:
    return pprint.pformat(value, indent=1, width=88, sort_dicts=False)


def _relative(path: str, here: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), here)).as_posix()


def _test_name(handler: str, record_id: str, failed: bool) -> str:
    words = re.sub(r"[^0-9a-zA-Z]+", "_", handler).strip("_").lower() or "handler"
    suffix = "no_longer_fails" if failed else "answers_as_recorded"
    return f"test_{words}_{suffix}_{record_id}"


def _one_line(text: str) -> str:
    text = " ".join(text.split()).replace('"""', "'''").replace("\\", "\\\\")
    return text if len(text) <= 70 else text[:67] + "..."
