"""`relay emulator`: run the embedded AWS on its own, so `relay start --local` clients can
come and go against the same emulated cloud, and `attach` for those clients.

The running emulator is announced in `<project>/.relay/emulator.json`: endpoints, ports and
pid, never a secret (the local developer key pair is the documented well-known one; role
credentials and function environments stay in the emulator's memory).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from relay.live_stage import LiveFunction, LiveStage
from relay.session import private_dir

if TYPE_CHECKING:
    from relay.emulator.resources import Provisioned

STATE_FILE = Path(".relay") / "emulator.json"
_FORMAT = 2  # 2: a function's config is FunctionConfig.record()


@dataclass(kw_only=True)
class EmulatorHandle(LiveStage):
    """A running `relay emulator`'s live stage, as read from its state file."""

    pid: int
    lambda_endpoint: str
    s3_endpoint: str
    dynamodb_endpoint: str
    #: the `relay start` whose emulator this is (None: a `relay emulator` run by hand)
    owner_pid: int | None = None
    skipped_types: dict[str, int] = field(default_factory=dict)  # not emulated: count
    endpoint_url: str = ""  # every emulated service but Lambda (moto)
    apis: list[dict[str, str]] = field(default_factory=list)  # path, type, url
    rules: list[dict[str, str]] = field(default_factory=list)  # path, name, schedule
    stacks: dict[str, Any] = field(default_factory=dict)  # outputs and resources per stack
    control_endpoint: str = ""  # `relay trigger` (token in the state file only)
    control_token: str = ""


def state_path(project: Path) -> Path:
    return Path(project) / STATE_FILE


def _function_record(function: Any) -> dict[str, Any]:
    config = function.config
    return {
        "path": function.path,
        "function_name": function.function_name,
        "function_url": function.function_url,
        "handler": function.handler,
        "code_dir": str(function.code_dir),
        # The environment is not written: the stub sends it with every invocation.
        "config": config.record(),
    }


def write_state(
    project: Path,
    stage: str,
    emulator: Any,
    provisioned: Provisioned,
    *,
    owner_pid: int | None = None,
) -> Path:
    """Announce a running emulator (atomically, owner-readable only).

    `owner_pid` names the `relay start` the emulator lives and dies with; a newer `relay
    start` for the stage takes the stage over from that process (relay/commands/start.py).
    """
    endpoints = emulator.endpoints
    document = {
        "format": _FORMAT,
        "stage": stage,
        "pid": os.getpid(),
        "owner_pid": owner_pid,
        "region": emulator.region,
        "account_id": emulator.account_id,
        "access_key": emulator.credentials.access_key,  # well-known, documented
        "websocket_url": provisioned.websocket_url,
        "connections_endpoint": provisioned.connections_endpoint,
        "lambda_endpoint": endpoints["lambda"],
        "s3_endpoint": endpoints["s3"],
        "dynamodb_endpoint": endpoints["dynamodb"],
        "bucket": provisioned.bucket,
        "table": provisioned.table,
        "functions": [_function_record(f) for f in provisioned.functions],
        "not_relayed": [list(pair) for pair in provisioned.not_relayed],
        "skipped_types": dict(provisioned.skipped_types),
        "notes": list(provisioned.notes),
        "endpoint_url": provisioned.endpoint_url,
        "apis": provisioned.apis,
        "rules": provisioned.rules,
        "stacks": provisioned.stacks,
    }
    control = getattr(emulator, "control", None)
    if control is not None:
        document["control_endpoint"] = control.url
        document["control_token"] = control.token
    path = state_path(project)
    private_dir(path.parent)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2)
    os.replace(temporary, path)
    return path


def _alive(pid: int, url: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), 1.0):
            return True
    except OSError:
        return False


def _functions(records: list[dict[str, Any]]) -> list[Any]:
    from relay.runtime import FunctionConfig

    functions = []
    for record in records:
        c = record["config"]
        config = FunctionConfig.from_record(
            c, name=c["name"], region=c["region"], account_id=c["account_id"]
        )
        functions.append(
            LiveFunction(
                path=record["path"],
                function_name=record["function_name"],
                function_url=record["function_url"],
                handler=record["handler"],
                code_dir=record["code_dir"],
                config=config,
            )
        )
    return functions


def attach(project: Path, stage: str | None = None) -> EmulatorHandle | None:
    """The `relay emulator` serving `project` (and `stage`, if given) if one is alive."""
    path = state_path(project)
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        return None
    if stage is not None and document.get("stage") != stage:
        return None
    try:
        handle = EmulatorHandle(
            stage=document["stage"],
            pid=int(document["pid"]),
            region=document["region"],
            websocket_url=document["websocket_url"],
            connections_endpoint=document["connections_endpoint"],
            lambda_endpoint=document["lambda_endpoint"],
            s3_endpoint=document["s3_endpoint"],
            dynamodb_endpoint=document["dynamodb_endpoint"],
            bucket=document.get("bucket", ""),
            table=document.get("table", ""),
            functions=[],
            owner_pid=int(document["owner_pid"]) if document.get("owner_pid") else None,
            endpoint_url=document.get("endpoint_url", ""),
            apis=list(document.get("apis", [])),
            rules=list(document.get("rules", [])),
            stacks=dict(document.get("stacks", {})),
            control_endpoint=document.get("control_endpoint", ""),
            control_token=document.get("control_token", ""),
        )
    except (KeyError, TypeError, ValueError):
        return None
    if not _alive(handle.pid, handle.lambda_endpoint):
        return None
    handle.functions = _functions(document.get("functions", []))
    handle.not_relayed = [(str(p), str(r)) for p, r in document.get("not_relayed", [])]
    handle.skipped_types = dict(document.get("skipped_types") or {})
    handle.notes = [str(n) for n in document.get("notes", [])]
    return handle


def _print_log(function: str, request_id: str, line: str) -> None:  # noqa: ARG001 (on_log)
    print(f"[{function}] {line}", flush=True)


def emulator_command(
    stage: str,
    project: Path,
    *,
    increase_timeout: bool = False,
    verbose: bool = False,
    layer_dirs: dict[str, Path] | None = None,
    observe: float | None = None,
) -> int:
    """Serve the stage's emulated cloud until Ctrl-C (or SIGTERM); 0 on a clean stop.

    Quiet unless `verbose`: the handlers' own logs show in `relay start`, so here the stubs'
    logs and moto's per-request access log only repeat what happens there. With `observe`
    (the share of invocations copied), functions run their real code wrapped (observe mode).
    """
    from relay.emulator import Emulator
    from relay.emulator.provision import ProvisionError, create, synthesize

    if not verbose:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's access log

    running = attach(project, None)
    if running is not None:
        print(
            f"relay: error: an emulator already serves {project} (stage '{running.stage}', pid "
            f"{running.pid}); stop it first, or run `relay start --local --stage "
            f"{running.stage}` to use it.",
            file=sys.stderr,
        )
        return 2
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    _stop_with_parent(stop)
    path = state_path(project)
    try:
        emulator = Emulator(on_log=_print_log if verbose else None)
        # The synthesis (jsii, in child processes) runs while moto is imported and started.
        synthesizing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay-synth")
        synthesis = synthesizing.submit(
            synthesize, project=project, stage=stage, region=emulator.region,
            account=emulator.account_id, increase_timeout=increase_timeout,
        )  # fmt: skip
        synthesizing.shutdown(wait=False)  # the thread ends with the synthesis
        with emulator:
            try:
                provisioned = create(emulator, synthesis.result(), layer_dirs=layer_dirs)
            except ProvisionError as exc:
                print(f"relay: error: {exc}", file=sys.stderr)
                return 2
            for warning in provisioned.warnings:
                print(f"relay: warning: {warning}", file=sys.stderr)
            if observe is not None:  # the real code serves, wrapped; copies go to the client
                from relay.observe.emulator import observe_functions

                snapshot = project / ".relay" / "stages" / stage / "observe-code"
                observe_functions(emulator, provisioned, sample=observe, snapshot=snapshot)
            write_state(project, stage, emulator, provisioned, owner_pid=_parent_pid())
            try:
                print(
                    f"relay emulator ready for stage '{stage}': "
                    f"{len(provisioned.functions)} function(s), Lambda "
                    f"{emulator.lambda_endpoint}, WebSocket {provisioned.websocket_url}, other "
                    f"services {emulator.endpoint_url} (Ctrl-C to stop)",
                    flush=True,
                )
                for api in provisioned.apis:
                    print(f"  {api['type']} API {api['path']}: {api['url']}", flush=True)
                for rule in provisioned.rules:
                    if rule.get("schedule"):
                        print(
                            f"  schedule {rule['path']}: {rule['schedule']} "
                            f"(`relay trigger {rule['path']}` fires it now)",
                            flush=True,
                        )
                stop.wait()
            finally:
                remove_own_state(path)
        print(f"relay emulator stopped (stage '{stage}')", flush=True)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _parent_pid() -> int | None:
    """The `relay start --local --via-stub` that started this emulator, if one did."""
    parent = os.environ.get("RELAY_PARENT_PID", "")
    return int(parent) if parent.isdigit() else None


def _stop_with_parent(stop: threading.Event) -> None:
    """Started by `relay start --local`: stop when that process is gone, even if killed."""
    parent = _parent_pid()
    if parent is None:
        return

    def watch() -> None:
        while not stop.wait(0.5):
            if os.getppid() != parent:
                stop.set()

    threading.Thread(target=watch, name="relay-parent-watch", daemon=True).start()


def remove_own_state(path: Path) -> None:
    """Remove the state file if it is still ours (another emulator may have replaced it)."""
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
