"""`relay run`: one handler through the local runtime, like `aws lambda invoke`.

stdout carries only the response payload (exactly as Lambda returns it), so it can be piped;
logs go to stderr as they happen. With --watch the environment stays up and every save
runs the handler again.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import stat
import sys
from collections.abc import Callable
from pathlib import Path

from relay.runtime import FunctionConfig, InvocationResult, LocalRuntime


class UsageError(Exception):
    """Bad command-line input; the message says what to do instead."""


def parse_env(pairs: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise UsageError(
                f"--env {pair!r} is not NAME=VALUE; write it as --env NAME=value "
                "(the name made of letters, digits and underscores)"
            )
        env[key] = value
    return env


def read_event(event: str | None) -> bytes:
    if event is None:
        return b"{}"
    if event == "-":
        data = sys.stdin.buffer.read()
        source = "stdin"
    else:
        path = Path(event)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UsageError(
                f"cannot read the event file {event}: {exc.strerror}; "
                "pass --event FILE with a JSON file, or --event - to read stdin"
            ) from None
        source = str(path)
    try:
        json.loads(data)
    except ValueError as exc:
        raise UsageError(
            f"the event from {source} is not JSON ({exc}); Lambda accepts only JSON payloads"
        ) from None
    return data


def locate_handler(handler: str, code_dir: Path) -> tuple[str, Path]:
    """(handler, code folder) for a handler typed as a path: `/abs/app.handler`, `../x/app.h`.

    Lambda's own form is relative to the code folder (`app.handler`, `sub/app.handler`), and
    stays so. A handler in a folder outside the code folder names that folder as the code
    folder when --code-dir was not given; with --code-dir it must lie inside it.
    """
    folder, sep, name = handler.rpartition("/")
    if not sep:
        return handler, code_dir
    root = code_dir.resolve()
    where = (root / folder).resolve()  # an absolute folder stays itself
    if where == root:
        return name, code_dir
    if where.is_relative_to(root):
        return f"{where.relative_to(root).as_posix()}/{name}", code_dir
    if code_dir != Path("."):
        raise UsageError(
            f"the handler {handler} is in {where}, outside --code-dir {code_dir}; name it "
            f"relative to the code folder (e.g. sub/{name}), or pass --code-dir {where}"
        )
    if not where.is_dir():
        raise UsageError(f"the handler {handler} names the folder {where}, which does not exist")
    return name, where


def function_name(handler: str) -> str:
    """A valid Lambda function name for the run, e.g. ``app-handler``."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", handler).strip("-")[:64] or "relay-run"


def _print_result(result: InvocationResult, *, newline: bool) -> None:
    out = sys.stdout.buffer
    out.write(result.payload)
    if newline:
        out.write(b"\n")
    out.flush()


def _log(function: str, request_id: str, line: str) -> None:  # noqa: ARG001 (on_log's signature)
    print(line, file=sys.stderr, flush=True)


def files_relay_writes() -> Callable[[str], bool]:
    """Is this path a file relay's stdout or stderr goes to (`relay run --watch > out.json`)?

    Such a file changes on every run; were it a reason to reload, each run would start the
    next. Compared by device and inode, whatever name the shell opened it under.
    """
    outputs = set()
    for fd in (1, 2):
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            outputs.add((st.st_dev, st.st_ino))

    def written_by_relay(path: str) -> bool:
        try:
            st = os.stat(path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) in outputs

    return written_by_relay


def stop_on_signals() -> None:
    """Ctrl-C and SIGTERM end `relay run --watch` cleanly, however it was started: a process
    started in the background by a non-interactive shell (``relay run … --watch &``, a
    script, a test runner started so) inherits SIGINT *ignored*, and Python then leaves it
    ignored, so ``kill -INT`` would do nothing and ``kill`` would skip the clean-up."""
    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)


async def _run(config: FunctionConfig, payload: bytes, watch: bool) -> int:
    if watch:
        stop_on_signals()
    async with LocalRuntime(
        watch=watch,
        spares=1 if watch else 0,
        on_log=_log,
        ignore=files_relay_writes() if watch else None,
    ) as runtime:
        runtime.configure(config)
        result = await runtime.invoke(config.name, payload)
        _print_result(result, newline=watch or sys.stdout.isatty())
        if not watch:
            return 1 if result.function_error else 0
        print(
            f"relay: watching {config.code_dir} — save to run again, Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        seen = runtime.reloads[config.name]
        while True:
            # At once: the runtime reloads only for new content (a save's second event or a
            # touch is not news), and saves made while a run is going get one run after it.
            seen = await runtime.wait_reload(config.name, seen, timeout=None)
            result = await runtime.invoke(config.name, payload)
            _print_result(result, newline=True)


def run_command(
    *,
    handler: str,
    event: str | None,
    code_dir: Path,
    env: list[str],
    layers: list[Path],
    timeout: float,
    memory: int,
    watch: bool,
) -> int:
    """Body of `relay run`; returns the exit code (0 ok, 1 function error, 2 bad input)."""
    try:
        environment = parse_env(env)
        if not code_dir.is_dir():
            raise UsageError(f"--code-dir {code_dir} is not a folder; point it at the code")
        for layer in layers:
            if not layer.is_dir():
                raise UsageError(f"--layer {layer} is not a folder (it should hold python/)")
        if timeout <= 0 or timeout > 900:
            raise UsageError(f"--timeout {timeout} is out of Lambda's range (0 < S <= 900)")
        if not 128 <= memory <= 10240:
            raise UsageError(f"--memory {memory} is out of Lambda's range (128-10240 MB)")
        payload = read_event(event)
        handler, code_dir = locate_handler(handler, code_dir)
        config = FunctionConfig(
            name=function_name(handler),
            handler=handler,
            code_dir=code_dir,
            layers=tuple(layers),
            environment=environment,
            timeout=timeout,
            memory_mb=memory,
        )
    except (UsageError, ValueError) as exc:
        print(f"relay: error: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(config, payload, watch))
    except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C (CancelledError: --watch's)
        print("relay: stopped", file=sys.stderr)
        return 130 if not watch else 0
