"""`relay replay ID`: re-run a recorded invocation on this machine, with no cloud at all.

The handler runs in relay's local runtime with the recorded event and the recorded
function's handler, code folder, layers, runtime, timeout and memory, in the environment
`relay start` builds for it (its requirements). Environment values and role
credentials were never recorded, so the handler gets none (it may still reach AWS through
your own shell's credentials only if it builds its own session). With --watch, every save
runs it again: fix a bug against the very event that broke.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from relay.record.differences import differences
from relay.record.recording import decode_payload, event_bytes
from relay.runtime import FunctionConfig, InvocationResult, LocalRuntime
from relay.runtime.envs import EnvBuilder

#: After a save, this much quiet before re-running (an editor's write-then-rename).
SETTLE_S = 0.05


class ReplayError(Exception):
    """The recording cannot be replayed here; the message says why and what to do."""


def replay_config(
    record: dict[str, Any], environment: dict[str, str] | None = None
) -> FunctionConfig:
    function = record.get("function") or {}
    context = record.get("context") or {}
    handler, code_dir = function.get("handler"), function.get("code_dir")
    if not handler or not code_dir:
        raise ReplayError(
            f"recording {record.get('id')} does not say which handler ran (it was made by a "
            "relay that did not know); invoke the function again with a current relay"
        )
    if not Path(code_dir).is_dir():
        raise ReplayError(
            f"the code folder of {function.get('name')} ({code_dir}) no longer exists; "
            "replay from the project that recorded it"
        )
    return FunctionConfig(
        name=function.get("name") or "replay",
        handler=handler,
        code_dir=Path(code_dir),
        layers=_folders(function.get("layers")),
        source_layers=_folders(function.get("source_layers")),
        runtime=function.get("runtime") or "",
        environment=environment or {},
        timeout=float(context.get("timeout_s") or 3.0),
        memory_mb=int(context.get("memory_mb") or 128),
        region=context.get("region") or "us-east-1",
    )


def _folders(paths: list[str] | None) -> tuple[Path, ...]:
    """The recorded layer folders that still exist here."""
    return tuple(Path(p) for p in paths or () if Path(p).is_dir())


def compare(record: dict[str, Any], result: InvocationResult) -> list[str]:
    """How the replay differs from the recording (empty when it answered the same)."""
    replayed, replayed_text = decode_payload(result.payload)
    if record.get("status") == "error" or result.function_error:
        was = "error" if record.get("status") == "error" else "ok"
        now = "error" if result.function_error else "ok"
        if was != now:
            return [f"status: {was} != {now}"]
        if now == "error":
            before = record.get("result") or {}
            after = replayed if isinstance(replayed, dict) else {}
            return differences(
                {k: before.get(k) for k in ("errorType", "errorMessage")},
                {k: after.get(k) for k in ("errorType", "errorMessage")},
            )
    if "result_text" in record or replayed_text is not None:
        same = record.get("result_text") == replayed_text
        return [] if same else ["(whole): the raw response differs"]
    return differences(record.get("result"), replayed)


async def replay_once(
    runtime: LocalRuntime, record: dict[str, Any], environment: dict[str, str]
) -> InvocationResult:
    config = replay_config(record, environment)
    runtime.configure(config)
    return await runtime.invoke(config.name, event_bytes(record))


def _report(record: dict[str, Any], result: InvocationResult) -> None:
    sys.stdout.buffer.write(result.payload + b"\n")
    sys.stdout.flush()
    found = compare(record, result)
    if not found:
        word = "fails the same way" if result.function_error else "answers"
        print(f"relay: replay of {record['id']} {word} as recorded", file=sys.stderr)
    else:
        print(f"relay: replay of {record['id']} differs from the recording:", file=sys.stderr)
        for line in found:
            print(f"  {line}", file=sys.stderr)
    sys.stderr.flush()


async def _replay(record: dict[str, Any], watch: bool, environment: dict[str, str]) -> int:
    def log(_function: str, _request_id: str, line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    if watch:
        from relay.commands.run import stop_on_signals

        stop_on_signals()
    # the function's own packages (requirements.txt of its code and layers), as relay start
    # builds them: the same cached environment
    envs = EnvBuilder(progress=lambda line: print(f"relay: {line}", file=sys.stderr, flush=True))
    async with LocalRuntime(
        watch=watch, spares=1 if watch else 0, on_log=log, envs=envs
    ) as runtime:
        result = await replay_once(runtime, record, environment)
        _report(record, result)
        if not watch:
            return 1 if result.function_error else 0
        config = replay_config(record, environment)
        print(
            f"relay: watching {config.code_dir} — save to replay again, Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        seen = runtime.reloads[config.name]
        while True:
            seen = await runtime.wait_reload(config.name, seen, timeout=None)
            while True:
                try:
                    seen = await runtime.wait_reload(config.name, seen, timeout=SETTLE_S)
                except TimeoutError:
                    break
            _report(record, await runtime.invoke(config.name, event_bytes(record)))


def replay_command(
    *,
    project: Path,
    stage: str,
    record_id: str,
    watch: bool,
    as_test: Path | None,
    env: list[str] | None = None,
) -> int:
    """Body of `relay replay`: 0 when the handler answered, 1 on a function error, 2 bad input."""
    from relay.commands.run import UsageError, parse_env
    from relay.record.store import EventStore, RecordNotFound, events_dir

    try:
        environment = parse_env(env or [])
        record = EventStore(events_dir(project, stage)).find(record_id)
        if as_test is not None:
            from relay.record.as_test import write_test

            path = write_test(record, as_test)
            print(f"relay: wrote {path}; run it with: pytest {path}", file=sys.stderr)
            return 0
        replay_config(record)  # fail early with a clear message
    except (RecordNotFound, ReplayError, FileExistsError, UsageError) as exc:
        print(f"relay: {exc}", file=sys.stderr)
        return 2
    except (OSError, json.JSONDecodeError) as exc:
        print(f"relay: cannot read the recording {record_id}: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_replay(record, watch, environment))
    except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C (CancelledError: --watch's)
        return 0 if watch else 130
