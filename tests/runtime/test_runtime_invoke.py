"""One invocation through a real awslambdaric worker: payloads, context, environment, paths."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from rt_helpers import FIXTURES, fn

from relay.runtime import FunctionConfig, FunctionNotFound, LocalRuntime

pytestmark = pytest.mark.anyio


async def test_payload_comes_back_byte_for_byte(runtime: LocalRuntime) -> None:
    runtime.configure(fn("echo", "app.echo"))
    payload = b'{"b": [1, 2.5, "\\u00e9"], "a": null}'
    result = await runtime.invoke("echo", payload)
    assert result.function_error is None
    # awslambdaric's json.dumps of the handler's return value, as Lambda returns it
    assert result.payload == b'{"b": [1, 2.5, "\\u00e9"], "a": null}'
    assert json.loads(result.payload) == json.loads(payload)


async def test_context_fields(runtime: LocalRuntime) -> None:
    runtime.configure(fn("ctx", "app.handler", memory_mb=256, timeout=5, region="eu-west-1"))
    before = int(time.time() * 1000)
    result = await runtime.invoke(
        "ctx",
        b'{"name": "ada"}',
        request_id="req-1",
        client_context=json.dumps({"custom": {"tenant": "t1"}, "client": {}, "env": {}}),
        cognito_identity=json.dumps({"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "p"}),
        trace_id="Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    )
    body = json.loads(result.payload)
    assert body["event"] == {"name": "ada"}
    assert body["function_name"] == "ctx"
    assert body["function_version"] == "$LATEST"
    assert body["memory_limit_in_mb"] == "256"
    assert body["aws_request_id"] == "req-1"
    assert body["invoked_function_arn"] == "arn:aws:lambda:eu-west-1:123456789012:function:ctx"
    assert body["log_group_name"] == "/aws/lambda/ctx"
    assert body["client_context"] == {"tenant": "t1"}
    assert body["identity_id"] == "id-1"
    assert body["trace"].startswith("Root=1-5759e988-bd862e3fe1be46a994272793")
    elapsed = int(time.time() * 1000) - before
    assert 5000 - elapsed - 50 <= body["remaining_ms"] <= 5000
    assert result.request_id == "req-1"


async def test_caller_deadline_and_arn_are_passed_through(runtime: LocalRuntime) -> None:
    runtime.configure(fn("ctx", "app.handler", timeout=60))
    deadline = int(time.time() * 1000) + 20_000
    arn = "arn:aws:lambda:us-east-1:999999999999:function:real-one:live"
    result = await runtime.invoke("ctx", b"{}", deadline_ms=deadline, invoked_function_arn=arn)
    body = json.loads(result.payload)
    assert body["invoked_function_arn"] == arn
    # the caller's deadline, not the 60 s timeout (a slack of 10 s for a loaded machine)
    assert 10_000 <= body["remaining_ms"] <= 20_000


async def test_logs_are_cloudwatch_shaped_and_streamed(tmp_path: Path) -> None:
    lines: list[tuple[str, str, str]] = []
    async with LocalRuntime(
        watch=False, on_log=lambda *a: lines.append(a), pycache_dir=tmp_path
    ) as rt:
        rt.configure(fn("logs", "app.handler", memory_mb=512))
        first = await rt.invoke("logs", b'{"name": "ada"}', request_id="r-1")
        second = await rt.invoke("logs", b'{"name": "bob"}', request_id="r-2")
    log = first.logs.splitlines()
    assert log[0] == "init: module imported"
    assert log[1] == "START RequestId: r-1 Version: $LATEST"
    assert log[2] == 'handling {"name": "ada"}'
    assert re.fullmatch(
        r"\[WARNING\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\tr-1\twarned about ada", log[3]
    )
    assert log[4] == "END RequestId: r-1"
    assert re.fullmatch(
        r"REPORT RequestId: r-1\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
        r"Memory Size: 512 MB\tMax Memory Used: \d+ MB\tInit Duration: \d+\.\d\d ms\t",
        log[5],
    )
    assert len(log) == 6
    assert first.init_duration_ms is not None and first.init_duration_ms > 0
    assert first.billed_duration_ms >= first.duration_ms
    assert first.max_memory_used_mb > 5
    # warm: no init output, no Init Duration
    assert second.init_duration_ms is None
    assert second.logs.splitlines()[0] == "START RequestId: r-2 Version: $LATEST"
    assert "Init Duration" not in second.logs
    assert [line for f, r, line in lines if r == "r-2"] == second.logs.splitlines()
    assert {f for f, _, _ in lines} == {"logs"}


async def test_reserved_environment_and_no_leaks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIADEVELOPERSOWNKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "developer-secret")
    monkeypatch.setenv("AWS_PROFILE", "dev")
    monkeypatch.setenv("RELAY_LEAK_CANARY", "1")
    async with LocalRuntime(watch=False, pycache_dir=tmp_path) as rt:
        rt.configure(
            fn(
                "env",
                "app.environment",
                memory_mb=1024,
                region="ap-south-1",
                environment={"GREETING": "hi", "AWS_ACCESS_KEY_ID": "ASIAROLEKEY"},
            )
        )
        body = json.loads((await rt.invoke("env", b"{}")).payload)
    stream = body.pop("AWS_LAMBDA_LOG_STREAM_NAME")
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", stream)
    assert body == {
        "AWS_LAMBDA_FUNCTION_NAME": "env",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/env",
        "_HANDLER": "app.environment",
        "LAMBDA_TASK_ROOT": str(FIXTURES / "basic"),
        "AWS_REGION": "ap-south-1",
        "AWS_DEFAULT_REGION": "ap-south-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "TZ": ":UTC",
        "IS_LOCAL": "true",
        "GREETING": "hi",
        # only what the function's own configuration passes (e.g. role credentials)
        "leaked": ["AWS_ACCESS_KEY_ID"],
        "cwd": str(FIXTURES / "basic"),
    }


async def test_sys_path_puts_code_then_layers_later_layer_wins(runtime: LocalRuntime) -> None:
    runtime.configure(fn("paths", "app.paths", layers=(FIXTURES / "layer_a", FIXTURES / "layer_b")))
    body = json.loads((await runtime.invoke("paths", b"{}")).payload)
    assert body["sys_path"] == [
        str(FIXTURES / "basic"),
        str(FIXTURES / "layer_b/python/lib/python3.11/site-packages"),
        str(FIXTURES / "layer_b/python"),
        str(FIXTURES / "layer_a/python/lib/python3.11/site-packages"),
        str(FIXTURES / "layer_a/python"),
    ]
    assert body["layered"] == "layer_a"
    assert body["shared"] == "layer_b"  # extracted later into /opt, so it overwrote layer_a's


async def test_handler_in_a_package_path(runtime: LocalRuntime) -> None:
    runtime.configure(fn("pkg", "pkg/mod.fn"))
    result = await runtime.invoke("pkg", b"[1]")
    assert json.loads(result.payload) == {"module": "pkg.mod", "event": [1]}


async def test_warm_invocations_reuse_one_environment(runtime: LocalRuntime) -> None:
    runtime.configure(fn("quick", "app.quick", code="errors"))
    pids = {json.loads((await runtime.invoke("quick", b"{}")).payload)["pid"] for _ in range(5)}
    assert len(pids) == 1
    assert len(runtime.workers("quick")) == 1


async def test_unknown_function_is_a_clear_error(runtime: LocalRuntime) -> None:
    runtime.configure(fn("known", "app.echo"))
    with pytest.raises(FunctionNotFound, match=r"no function named 'nope'.*configured: known"):
        await runtime.invoke("nope", b"{}")


async def test_a_failing_log_sink_does_not_break_invocations(tmp_path: Path) -> None:
    def broken(function: str, request_id: str, line: str) -> None:
        raise RuntimeError("terminal went away")

    async with LocalRuntime(watch=False, on_log=broken, pycache_dir=tmp_path) as rt:
        rt.configure(fn("sink", "app.handler"))
        result = await rt.invoke("sink", b'{"name": "x"}', request_id="r-s")
    assert result.function_error is None
    assert json.loads(result.payload)["aws_request_id"] == "r-s"
    assert "END RequestId: r-s" in result.logs.splitlines()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"handler": "nodot"}, "handler 'nodot' has no '.'"),
        ({"environment": {"N": 1}}, "names and values must be strings (got int)"),
        ({"environment": {"A=B": "x"}}, "cannot be set: a name must be non-empty without '='"),
        ({"timeout": 0}, "timeout must be positive seconds, got 0"),
    ],
)
def test_bad_configuration_is_refused_with_a_clear_message(
    kwargs: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {"name": "f", "handler": "app.handler", "code_dir": FIXTURES}
    with pytest.raises(ValueError) as info:
        FunctionConfig(**(arguments | kwargs))  # type: ignore[arg-type]
    assert message in str(info.value)


async def test_output_without_newline_and_invalid_utf8_stay_with_their_invocation(
    runtime: LocalRuntime, tmp_path: Path
) -> None:
    (tmp_path / "app.py").write_text(
        "import os, sys\n\n"
        "def handler(event, context):\n"
        "    os.write(1, b'raw \\xff bytes\\n')\n"
        "    sys.stdout.write('no newline ' + event['n'])\n"
        "    return 1\n"
    )
    runtime.configure(fn("partial", "app.handler", code=tmp_path))
    first = await runtime.invoke("partial", b'{"n": "first"}', request_id="r-1")
    second = await runtime.invoke("partial", b'{"n": "second"}', request_id="r-2")
    assert first.logs.splitlines()[1:4] == [
        "raw \ufffd bytes",
        "no newline first",
        "END RequestId: r-1",
    ]
    assert second.logs.splitlines()[1:4] == [
        "raw \ufffd bytes",
        "no newline second",
        "END RequestId: r-2",
    ]


def test_config_repr_never_shows_the_environment() -> None:
    config = FunctionConfig(
        name="f",
        handler="app.handler",
        code_dir=FIXTURES,
        environment={"AWS_SECRET_ACCESS_KEY": "very-secret"},
    )
    assert "very-secret" not in repr(config)
    assert "name='f'" in repr(config)


async def test_max_memory_used_is_the_workers_peak_rss(
    runtime: LocalRuntime, tmp_path: Path
) -> None:
    """REPORT's Max Memory Used is the worker's VmHWM after the handler (answers, errors)."""
    (tmp_path / "app.py").write_text(
        "def handler(event, context):\n"
        "    block = bytearray(event['mb'] * 1024 * 1024)\n"
        "    block[::4096] = b'x' * len(block[::4096])  # touch every page\n"
        "    if event.get('fail'):\n"
        "        raise ValueError('after allocating')\n"
        "    return len(block)\n"
    )
    runtime.configure(fn("mem", "app.handler", tmp_path))
    small = await runtime.invoke("mem", b'{"mb": 1}')
    (worker,) = runtime.workers("mem")
    # (the worker keeps running after its answer: its peak may have grown by a page since)
    assert _hwm_mb(worker.pid) - 1 <= small.max_memory_used_mb <= _hwm_mb(worker.pid)
    # against what the worker holds now: after an answer its allocator may give memory back,
    # so the next peak is not always the last peak plus the new block
    resident = _rss_mb(worker.pid)
    big = await runtime.invoke("mem", b'{"mb": 80}')
    assert big.function_error is None
    assert big.max_memory_used_mb >= resident + 79
    assert _hwm_mb(worker.pid) - 1 <= big.max_memory_used_mb <= _hwm_mb(worker.pid)
    assert f"Max Memory Used: {big.max_memory_used_mb} MB" in big.logs
    resident = _rss_mb(worker.pid)
    failed = await runtime.invoke("mem", b'{"mb": 120, "fail": true}')
    assert failed.function_error == "Unhandled"
    assert failed.max_memory_used_mb >= resident + 119
    assert _hwm_mb(worker.pid) - 1 <= failed.max_memory_used_mb <= _hwm_mb(worker.pid)
    # a quiet invocation (few or no page faults, so no new read of the peak) keeps it
    quiet = await runtime.invoke("mem", b'{"mb": 0}')
    assert quiet.max_memory_used_mb >= failed.max_memory_used_mb
    assert _hwm_mb(worker.pid) - 1 <= quiet.max_memory_used_mb <= _hwm_mb(worker.pid)


def _rss_mb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split("kB")[0]) // 1024


def _hwm_mb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return -(-int(status.split("VmHWM:")[1].split("kB")[0]) // 1024)
