"""relay's event loop (relay/eventloop.py): uvloop when installed, asyncio when asked or absent,
and everything `relay start` runs on it working there: worker subprocesses and their pipes,
the Runtime API, signal handlers, websockets, watchfiles."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import types
from pathlib import Path

import pytest
import websockets

from relay import eventloop
from relay.runtime import FunctionConfig, LocalRuntime
from relay.runtime.reload import CodeWatcher

uvloop = pytest.importorskip("uvloop")

FIXTURES = Path(__file__).parent / "runtime" / "fixtures"


def test_uvloop_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(eventloop.ENV, raising=False)
    assert eventloop.name() == "uvloop"
    assert eventloop.run(_loop_type()) is uvloop.Loop
    loop = eventloop.new_event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_asyncio_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(eventloop.ENV, "asyncio")
    assert eventloop.name() == "asyncio"
    assert eventloop.loop_factory() is None
    assert not issubclass(eventloop.run(_loop_type()), uvloop.Loop)


def test_asyncio_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(eventloop.ENV, raising=False)
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import fails, as on a platform without it
    assert eventloop.loop_factory() is None
    assert not issubclass(eventloop.run(_loop_type()), uvloop.Loop)


def test_asyncio_under_a_debugger(monkeypatch: pytest.MonkeyPatch) -> None:
    """debugpy follows the workers by patching Python's process creation, which uvloop
    bypasses: `relay start --debug`, or relay itself run under debugpy, stays on asyncio."""
    monkeypatch.delenv(eventloop.ENV, raising=False)
    assert eventloop.loop_factory(debugging=True) is None
    assert not issubclass(eventloop.run(_loop_type(), debugging=True), uvloop.Loop)
    assert eventloop.loop_factory() is not None
    monkeypatch.setitem(sys.modules, "pydevd", types.ModuleType("pydevd"))  # as under VS Code
    assert eventloop.loop_factory() is None
    assert not issubclass(eventloop.run(_loop_type()), uvloop.Loop)


async def _loop_type() -> type:
    return type(asyncio.get_running_loop())


def test_the_local_runtime_on_uvloop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker processes (pass_fds, own session), their pipes (add_reader), the Runtime API
    protocol: an invocation's result, its logs and a handler error, on relay's loop."""
    monkeypatch.delenv(eventloop.ENV, raising=False)

    async def main() -> tuple[type, list[tuple[bytes, str | None, str]]]:
        config = FunctionConfig(name="echo", handler="app.echo", code_dir=FIXTURES / "basic")
        failing = FunctionConfig(name="fails", handler="app.raises", code_dir=FIXTURES / "errors")
        async with LocalRuntime(watch=False, pycache_dir=tmp_path / "pyc") as runtime:
            runtime.configure(config)
            runtime.configure(failing)
            results = []
            for name, payload in (
                ("echo", b'{"n": 1}'),
                ("echo", b'{"n": 2}'),
                ("fails", b'{"order": 7}'),
            ):
                async with asyncio.timeout(60):
                    result = await runtime.invoke(name, payload, request_id=f"id-{len(results)}")
                results.append((result.payload, result.function_error, result.logs))
        return type(asyncio.get_running_loop()), results

    loop_type, results = eventloop.run(main())
    assert loop_type is uvloop.Loop
    assert [json.loads(p) for p, _, _ in results[:2]] == [{"n": 1}, {"n": 2}]
    assert [e for _, e, _ in results] == [None, None, "Unhandled"]
    error = json.loads(results[2][0])
    assert (error["errorType"], error["errorMessage"]) == ("OrderError", "order 7 is invalid")
    assert "about to fail\n" in results[2][2]
    assert results[1][2].startswith("START RequestId: id-1 Version: $LATEST\n")
    assert "END RequestId: id-1\nREPORT RequestId: id-1\tDuration: " in results[1][2]


def test_signals_websockets_and_watchfiles_on_uvloop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(eventloop.ENV, raising=False)
    watched = tmp_path / "code"
    watched.mkdir()
    (watched / "app.py").write_text("x = 1\n")

    async def main() -> tuple[bool, str, set[str]]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, uvloop.Loop)
        # a signal handler, as relay start installs for SIGINT/SIGTERM/SIGUSR1
        got = asyncio.Event()
        loop.add_signal_handler(signal.SIGUSR2, got.set)
        try:
            os.kill(os.getpid(), signal.SIGUSR2)
            async with asyncio.timeout(10):
                await got.wait()
        finally:
            loop.remove_signal_handler(signal.SIGUSR2)

        # websockets, as the web console and the relay client use it
        async def echo(connection: websockets.ServerConnection) -> None:
            async for message in connection:
                await connection.send(f"echo {message}")

        async with websockets.serve(echo, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            async with websockets.connect(f"ws://127.0.0.1:{port}") as client:
                await client.send("hi")
                async with asyncio.timeout(10):
                    answer = str(await client.recv())

        # watchfiles (anyio in a worker thread), as hot reload uses it
        changed: asyncio.Queue[set[str]] = asyncio.Queue()
        watcher = CodeWatcher(changed.put_nowait)
        watcher.watch({watched})
        try:
            seen: set[str] = set()
            async with asyncio.timeout(20):
                while str(watched / "app.py") not in seen:
                    (watched / "app.py").write_text(f"x = {len(seen) + 2}\n")
                    try:
                        async with asyncio.timeout(1):
                            seen |= await changed.get()
                    except TimeoutError:
                        continue  # the watcher was not watching yet: save again
        finally:
            await watcher.close()
        return got.is_set(), answer, seen

    signalled, answer, seen = eventloop.run(main())
    assert signalled
    assert answer == "echo hi"
    assert str(watched / "app.py") in seen


def test_a_worker_whose_pipe_closed_before_its_function_is_given_on_uvloop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvloop raises on a write to a closed pipe where asyncio drops it: a spare that exited
    (its stdin pipe closed) just before `assign` must end as Lambda's exit error."""
    from relay.runtime import process
    from relay.runtime.invocation import Invocation
    from relay.runtime.worker import Worker

    monkeypatch.delenv(eventloop.ENV, raising=False)
    # it exits once the test lets it (after `assign`): exiting at once raced with `assign`
    release = tmp_path / "release"
    os.mkfifo(release)
    broken = tmp_path / "entry.py"
    broken.write_text(
        f"import sys\nopen({str(release)!r}).read()\n"
        "print('cannot import awslambdaric', flush=True)\nsys.exit(3)\n"
    )
    monkeypatch.setattr(process, "ENTRY", str(broken))
    config = FunctionConfig(name="b", handler="app.quick", code_dir=FIXTURES / "errors")

    async def main() -> tuple[bytes, str]:
        worker = await Worker.spawn()
        assert worker._proc is not None and worker._proc.stdin is not None
        worker._proc.stdin.transport.close()  # as the pipe of a worker that has just exited
        await asyncio.sleep(0)  # (uvloop completes a close on the loop's next turn)
        await asyncio.sleep(0)
        worker.assign(config, 0, env={}, sys_path=[], pycache_prefix=str(tmp_path), fresh=True)
        # as the runtime does, the invocation is given right after `assign`, before the worker
        # may exit (letting it exit first raced `start` with the exit watcher)
        answer = worker.start(Invocation(request_id="r-b", payload=b"{}"))
        async with asyncio.timeout(60):
            await asyncio.to_thread(release.write_text, "go")  # opens once the worker reads
            result = await answer
            await worker.close()
        return result.payload, result.logs

    payload, logs = eventloop.run(main())
    assert json.loads(payload) == {
        "errorType": "Runtime.ExitError",
        "errorMessage": "RequestId: r-b Error: Runtime exited with error: exit status 3",
    }
    assert "cannot import awslambdaric" in logs.splitlines()
