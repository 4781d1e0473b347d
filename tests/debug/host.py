"""A relay main process for the debug tests: debugpy listening, a LocalRuntime, stdin commands.

debugpy.listen() can be called once per process and traces the process that calls it, so the
tests run it here, in a child of pytest, as `relay start --debug` would: enable() first, then
a LocalRuntime(debug=...) whose workers debugpy follows. Protocol, one JSON object per line:

  stdout first line: {"debug_port": N}
  stdin  {"id": K, "invoke": FUNCTION, "event": {...}}
         -> stdout {"id": K, "payload": ..., "error": ..., "logs": ...}
  stdin  {"id": K, "configure": FUNCTION, "handler": "app.handler", "code_dir": "..."}
  stdout {"id": null, "function": F, "request_id": R, "log": LINE} for every log line
  stdin  {"id": K, "wait_reload": FUNCTION, "after": N}  ->  stdout {"id": K, "reloads": M}
  stdin EOF -> the runtime closes, the process exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from relay.debug.attach import enable
from relay.debug.options import DebugOptions
from relay.runtime import FunctionConfig, LocalRuntime


def _write(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def _invoke(runtime: LocalRuntime, command: dict[str, Any]) -> None:
    try:
        result = await runtime.invoke(command["invoke"], json.dumps(command["event"]).encode())
        _write(
            {
                "id": command["id"],
                "payload": json.loads(result.payload),
                "error": result.function_error,
                "logs": result.logs,
            }
        )
    except Exception as exc:  # reported to the test, which fails on it
        _write({"id": command["id"], "exception": repr(exc)})


async def _wait_reload(runtime: LocalRuntime, command: dict[str, Any]) -> None:
    reloads = await runtime.wait_reload(command["wait_reload"], command["after"], timeout=60)
    _write({"id": command["id"], "reloads": reloads})


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--debug", choices=("on", "off"), default="on")
    parser.add_argument("--wait-for-debugger", action="store_true")
    args = parser.parse_args()
    options = None
    if args.debug == "on":
        options = DebugOptions(port=0, wait_for_debugger=args.wait_for_debugger)
        session = enable(options)
        assert session.address is not None
        _write({"debug_port": session.address[1]})
    else:
        _write({"debug_port": None})

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    tasks: set[asyncio.Task[None]] = set()

    def on_log(function: str, request_id: str, line: str) -> None:
        _write({"id": None, "function": function, "request_id": request_id, "log": line})

    async with LocalRuntime(debug=options, spares=1, on_log=on_log) as runtime:
        while line := await reader.readline():
            command = json.loads(line)
            if "configure" in command:
                runtime.configure(
                    FunctionConfig(
                        name=command["configure"],
                        handler=command["handler"],
                        code_dir=Path(command["code_dir"]),
                        timeout=command.get("timeout", 3.0),
                    )
                )
                _write({"id": command["id"], "configured": command["configure"]})
            elif "wait_reload" in command:
                task = asyncio.create_task(_wait_reload(runtime, command))
            else:
                task = asyncio.create_task(_invoke(runtime, command))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        for task in list(tasks):
            task.cancel()


if __name__ == "__main__":
    asyncio.run(main())
