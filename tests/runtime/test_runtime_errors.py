"""Every way an invocation can fail gives Lambda's payload, and relay keeps serving."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from rt_helpers import FIXTURES, fn

from relay.runtime import LocalRuntime

pytestmark = pytest.mark.anyio

ERRORS = FIXTURES / "errors"


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


async def _still_serves(runtime: LocalRuntime, name: str) -> None:
    """The same function answers correctly right after the failure."""
    runtime.configure(fn(f"{name}-ok", "app.quick", code="errors"))
    result = await runtime.invoke(f"{name}-ok", b"{}")
    assert result.function_error is None and "pid" in json.loads(result.payload)


async def test_handler_exception(runtime: LocalRuntime) -> None:
    runtime.configure(fn("raises", "app.raises", code="errors"))
    result = await runtime.invoke("raises", b'{"order": 7}', request_id="r-err")
    line = _line_of(ERRORS / "app.py", "raise OrderError")
    assert result.function_error == "Unhandled"
    assert json.loads(result.payload) == {
        "errorMessage": "order 7 is invalid",
        "errorType": "OrderError",
        "requestId": "r-err",
        "stackTrace": [
            f'  File "{ERRORS / "app.py"}", line {line}, in raises\n'
            "    raise OrderError(f\"order {event['order']} is invalid\")\n"
        ],
    }
    logs = result.logs.splitlines()
    assert logs[1] == "about to fail"
    assert logs[2] == "[ERROR] OrderError: order 7 is invalid"
    assert logs[3] == "Traceback (most recent call last):"
    assert "END RequestId: r-err" in logs
    # an exception does not end the environment: the next call is warm
    again = await runtime.invoke("raises", b'{"order": 8}')
    assert json.loads(again.payload)["errorMessage"] == "order 8 is invalid"
    assert again.init_duration_ms is None


async def test_import_error(runtime: LocalRuntime) -> None:
    runtime.configure(fn("imp", "broken_import.handler", code="errors"))
    result = await runtime.invoke("imp", b"{}")
    assert result.function_error == "Unhandled"
    assert json.loads(result.payload) == {
        "errorMessage": "Unable to import module 'broken_import': "
        "No module named 'a_module_that_does_not_exist'",
        "errorType": "Runtime.ImportModuleError",
        "requestId": "",
        "stackTrace": [],
    }
    assert "[ERROR] Runtime.ImportModuleError: Unable to import module" in result.logs
    # every invocation retries init, as Lambda does, and keeps failing the same way
    again = await runtime.invoke("imp", b"{}")
    assert json.loads(again.payload)["errorType"] == "Runtime.ImportModuleError"
    await _still_serves(runtime, "imp")


async def test_syntax_error(runtime: LocalRuntime, tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "bad.py").write_text("def handler(event, context)\n    return 1\n")
    runtime.configure(fn("syn", "bad.handler", code=code))
    result = await runtime.invoke("syn", b"{}")
    body = json.loads(result.payload)
    assert result.function_error == "Unhandled"
    assert body["errorType"] == "Runtime.UserCodeSyntaxError"
    assert body["errorMessage"] == "Syntax error in module 'bad': expected ':' (bad.py, line 1)"
    assert body["requestId"] == ""
    assert body["stackTrace"] == [
        f'  File "{code / "bad.py"}" Line 1\n    def handler(event, context)\n'
    ]


async def test_missing_handler_function(runtime: LocalRuntime) -> None:
    runtime.configure(fn("missing", "app.nope", code="errors"))
    result = await runtime.invoke("missing", b"{}")
    assert json.loads(result.payload) == {
        "errorMessage": "Handler 'nope' missing on module 'app'",
        "errorType": "Runtime.HandlerNotFound",
        "requestId": "",
        "stackTrace": [],
    }


async def test_unserializable_result(runtime: LocalRuntime) -> None:
    runtime.configure(fn("marshal", "app.unserializable", code="errors"))
    result = await runtime.invoke("marshal", b"{}", request_id="r-m")
    assert result.function_error == "Unhandled"
    assert json.loads(result.payload) == {
        "errorMessage": "Unable to marshal response: "
        "Object of type object is not JSON serializable",
        "errorType": "Runtime.MarshalError",
        "requestId": "r-m",
        "stackTrace": [],
    }


async def test_response_over_6mb(runtime: LocalRuntime) -> None:
    runtime.configure(fn("big", "app.too_large", code="errors"))
    result = await runtime.invoke("big", b"{}")
    size = 6291556 + 2  # the JSON string and its quotes
    assert result.function_error == "Unhandled"
    assert json.loads(result.payload) == {
        "errorMessage": f"Response payload size ({size} bytes) exceeded maximum allowed "
        "payload size (6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }
    await _still_serves(runtime, "big")
    again = await runtime.invoke("big", b"{}")
    assert json.loads(again.payload)["errorType"] == "Function.ResponseSizeTooLarge"


@pytest.mark.parametrize(
    ("handler", "reason", "printed"),
    [
        ("app.exits", "exit status 3", "exiting hard"),
        ("app.segfault", "signal: segmentation fault", None),
        ("app.exits_cleanly", None, None),
    ],
)
async def test_worker_that_dies(
    runtime: LocalRuntime, handler: str, reason: str | None, printed: str | None
) -> None:
    runtime.configure(fn("dies", handler, code="errors"))
    result = await runtime.invoke("dies", b"{}", request_id="r-x")
    assert result.function_error == "Unhandled"
    error = "Runtime exited without providing a reason"  # Lambda's words for status 0
    if reason is not None:
        error = f"Runtime exited with error: {reason}"
    assert json.loads(result.payload) == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: r-x Error: {error}",
    }
    if printed:
        assert printed in result.logs.splitlines()
    assert result.logs.splitlines()[-1].startswith("REPORT RequestId: r-x\t")
    # a fresh environment serves the next invocation
    runtime.configure(fn("dies", "app.quick", code="errors"))
    ok = await runtime.invoke("dies", b"{}")
    assert ok.function_error is None
    assert ok.init_duration_ms is not None


async def test_crash_during_init(runtime: LocalRuntime) -> None:
    runtime.configure(fn("initcrash", "crash_on_import.handler", code="errors"))
    result = await runtime.invoke("initcrash", b"{}", request_id="r-i")
    assert json.loads(result.payload) == {
        "errorType": "Runtime.ExitError",
        "errorMessage": "RequestId: r-i Error: Runtime exited with error: exit status 2",
    }
    assert result.logs.splitlines()[:2] == [
        "crashing during init",
        "START RequestId: r-i Version: $LATEST",
    ]


async def test_timeout_ends_the_worker_with_lambdas_wording(runtime: LocalRuntime) -> None:
    runtime.configure(fn("slow", "app.sleeps", code="errors", timeout=0.5))
    first = await runtime.invoke("slow", b'{"seconds": 0}', request_id="r-0")
    (worker,) = runtime.workers("slow")
    assert first.function_error is None
    result = await runtime.invoke("slow", b'{"seconds": 30}', request_id="r-t")
    message = json.loads(result.payload)["errorMessage"]
    assert json.loads(result.payload) == {"errorMessage": message}
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z r-t Task timed out after 0\.50 seconds", message
    )
    assert result.function_error == "Unhandled"
    logs = result.logs.splitlines()
    assert logs[-1] == message
    assert logs[-2].startswith("REPORT RequestId: r-t\tDuration: 5")
    assert logs[-3] == "END RequestId: r-t"
    assert "going to sleep" in logs
    assert result.duration_ms >= 500
    # the environment was ended (with its whole process group) and a new one serves next
    assert await worker.exited == -9
    with pytest.raises(ProcessLookupError):
        os.kill(worker.pid, 0)
    fast = await runtime.invoke("slow", b'{"seconds": 0}')
    assert fast.payload == b'"woke up"'
    assert fast.init_duration_ms is not None


async def test_response_of_exactly_6mb_is_fine(runtime: LocalRuntime) -> None:
    runtime.configure(fn("limit", "app.at_limit", code="errors"))
    result = await runtime.invoke("limit", b"{}")
    assert result.function_error is None
    assert len(result.payload) == 6291556
    assert result.payload == b'"' + b"x" * 6291554 + b'"'
