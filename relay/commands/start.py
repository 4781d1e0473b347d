"""`relay start`: bring a stage live and serve its invocations on this machine.

The order is the invocation path read backwards: the cloud side (the embedded emulator, or
the debug stack and the stubbed app in AWS), then the local runtime that runs the real
handlers, then the client that connects the two. The session file is written once the client
is connected and rewritten on every reconnect, so other tools always find the live
connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relay import eventloop
from relay import session as sessions
from relay.live_stage import LiveStage
from relay.ui.live_view import LiveView
from relay.ui.logs import configure_logging

EXIT_REPLACED = 3  # as relay.client's: a newer `relay start` took the stage over
#: sent by a newer `relay start --local` to the one serving the stage (see _take_over)
REPLACED_SIGNAL: signal.Signals = getattr(signal, "SIGUSR1", signal.SIGTERM)
_TAKE_OVER_LIMIT = 60.0  # seconds for the replaced relay start to stop


@dataclass
class StartOptions:
    stage: str
    project: Path
    local: bool
    local_credentials: bool = False
    increase_timeout: bool = False
    #: --layer-dir: local folders for layers the app references by ARN (name or ARN -> dir)
    layer_dirs: dict[str, Path] = field(default_factory=dict)
    debug: bool = False
    debug_port: int = 5678
    wait_for_debugger: bool = False
    demo: bool = False
    via_stub: bool = False  # --local: the stub + WebSocket path instead of direct mode
    record: bool = True
    console: bool = True
    console_port: int = 0
    observe: float | None = None  # observe mode: the share of invocations copied here


@dataclass(kw_only=True)
class LiveTarget(LiveStage):
    """A live stage, whichever cloud it lives in, with what the client needs to serve it."""

    mode: str
    lambda_endpoint: str | None = None
    s3_endpoint: str | None = None  # local mode: moto's endpoint for the overflow bucket
    credentials: Any = None  # developer credentials (local: the emulator's well-known pair)
    cleanup: list[Any] = field(default_factory=list)
    skipped_types: dict[str, int] = field(default_factory=dict)  # local: not emulated
    endpoint_url: str | None = None  # local: every other emulated service
    apis: list[dict[str, str]] = field(default_factory=list)
    stacks: dict[str, Any] = field(default_factory=dict)


def start_command(**kwargs: Any) -> int:
    options = StartOptions(**kwargs)
    view = LiveView()
    configure_logging(view)  # relay's warnings and info lines as status lines of the view
    if not (options.project / "cdk.json").is_file():
        view.error(
            f"no cdk.json in {options.project}. Run relay from your CDK app's folder or pass "
            "--app DIR."
        )
        return 2
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return eventloop.run(_serve(options, view), debugging=options.debug)
    except KeyboardInterrupt:
        return 130
    except (BotoCoreError, ClientError) as exc:  # not handled where it was raised
        from relay.cloud.aws_errors import describe

        view.error(describe(exc, options.stage))
        return 2
    finally:
        view.flush()


async def _serve(options: StartOptions, view: LiveView) -> int:
    if options.local:
        try:
            await _take_over(options, view)
        except _StartError as exc:
            view.error(str(exc))
            return 2
    if options.local and not options.via_stub and options.observe is None:
        if _attach_running_emulator(options) is None:
            return await _serve_direct(options, view)
        view.info(
            "a `relay emulator` already serves this app: its invocations come through the "
            "stub and the WebSocket (direct mode needs the emulator in this process)"
        )
    try:
        target = await (
            _local_target(options, view) if options.local else _aws_target(options, view)
        )
    except _StartError as exc:
        view.error(str(exc))
        return 2
    try:
        # After the cloud side is up: a debugger must follow the handlers' workers only,
        # not synthesis or the emulator's stub workers.
        debug = _enable_debug(options, view) if options.debug else None
        return await _run_client(options, view, target, debug)
    finally:
        for close in reversed(target.cleanup):
            with contextlib.suppress(Exception):
                await asyncio.to_thread(close)


class _StartError(Exception):
    """The stage could not be brought live; the message says why and what to do."""


async def _take_over(options: StartOptions, view: LiveView) -> None:
    """Newest `relay start` for a stage wins, locally as in AWS: stop the one serving it.

    The emulator of `relay start --local` lives in that process (or in its child), so it
    cannot outlive it; rather than leave an emulator nobody owns, the newcomer asks the older
    relay start to stop (it says it was replaced) and then brings the stage up itself. An
    emulator shared by clients that come and go is `relay emulator`, which nobody takes over.
    """
    from relay.emulator.command import attach

    running = attach(options.project, options.stage)
    if running is None or running.owner_pid in (None, os.getpid()):
        return
    owner = running.owner_pid
    assert owner is not None
    view.info(f"taking stage '{options.stage}' over from the `relay start` running as pid {owner}")
    with contextlib.suppress(ProcessLookupError):
        os.kill(owner, REPLACED_SIGNAL)
    deadline = asyncio.get_running_loop().time() + _TAKE_OVER_LIMIT
    while attach(options.project, options.stage) is not None:
        if asyncio.get_running_loop().time() > deadline:
            raise _StartError(
                f"the `relay start` running as pid {owner} did not stop within "
                f"{_TAKE_OVER_LIMIT:.0f} s; stop it (Ctrl-C in its terminal) and run this again"
            )
        await asyncio.sleep(0.05)


class _Replaced:
    """REPLACED_SIGNAL's handler: says so once, then stops serving."""

    def __init__(self, view: LiveView, stage: str, stop: Callable[[], object]) -> None:
        self.view, self.stage, self.stop = view, stage, stop
        self.happened = False

    def __call__(self) -> None:
        if not self.happened:
            self.happened = True
            self.view.info(f"replaced by another `relay start` for stage {self.stage}; stopping")
        self.stop()


def _enable_debug(options: StartOptions, view: LiveView) -> Any:
    from relay.debug.attach import DebugStartError, announce, enable
    from relay.debug.options import DebugOptions

    try:
        session = enable(
            DebugOptions(port=options.debug_port, wait_for_debugger=options.wait_for_debugger)
        )
    except DebugStartError as exc:
        view.error(str(exc))
        raise SystemExit(2) from None
    announce(session)
    return DebugOptions(port=options.debug_port, wait_for_debugger=options.wait_for_debugger)


async def _local_target(options: StartOptions, view: LiveView) -> LiveTarget:
    """Attach to a running `relay emulator`, or start one as a child process.

    The emulator runs in its own process so that it and the client each get a core (one
    process would share a GIL between the emulated cloud and the laptop side), so that a
    debugger attached to relay never follows the emulator's stub workers, and so that the
    path is the same whether the emulator was started by hand or by `relay start`.
    """
    attached = _attach_running_emulator(options)
    if attached is not None and options.observe is not None:
        view.warn(
            "--observe: an emulator already serves this app; its functions are observed only "
            "if it was started with `relay emulator --observe`"
        )
    if attached is not None:
        view.info(f"attached to the running emulator for stage '{options.stage}'")
        return attached
    log_path = sessions.stage_dir(options.project, options.stage) / "emulator.log"
    with view.status("starting the embedded emulator (synthesizing the app in live mode)"):
        child = _spawn_emulator(options, log_path)
        try:
            target = await _wait_for_emulator(child, options, log_path)
        except BaseException:
            _stop_child(child)
            raise
    target.cleanup.append(lambda: _stop_child(child))
    for line in log_path.read_text(errors="replace").splitlines():
        if line.startswith("relay: warning:"):
            view.warn(line.removeprefix("relay: warning:").strip())
    return target


def _spawn_emulator(options: StartOptions, log_path: Path) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "relay", "emulator", "--stage", options.stage,
            "--app", str(options.project)]  # fmt: skip
    if options.increase_timeout:
        args.append("--increase-timeout")
    for name, folder in options.layer_dirs.items():
        args += ["--layer-dir", f"{name}={folder}"]
    if options.observe is not None:
        args += ["--observe", "--sample", repr(options.observe)]
    env = {**os.environ, "RELAY_PARENT_PID": str(os.getpid())}
    env.pop("RELAY_DEBUG", None)
    with os.fdopen(sessions.open_private(log_path), "wb") as log:
        return subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )


async def _wait_for_emulator(
    child: subprocess.Popen[bytes], options: StartOptions, log_path: Path
) -> LiveTarget:
    while True:
        target = _attach_running_emulator(options)
        if target is not None:
            return target
        if child.poll() is not None:
            output = (await asyncio.to_thread(log_path.read_text, errors="replace")).strip()
            raise _StartError(
                f"the embedded emulator stopped before it was ready (exit {child.returncode}):"
                f"\n{output}"
            )
        await asyncio.sleep(0.05)


def _stop_child(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(10)


def _attach_running_emulator(options: StartOptions) -> LiveTarget | None:
    """Use a `relay emulator` already serving this project, so clients can come and go."""
    from relay.emulator.command import attach

    handle = attach(options.project, options.stage)
    if handle is None:
        return None
    from relay.emulator import LOCAL_CREDENTIALS

    return LiveTarget(
        mode="local",
        stage=handle.stage,
        region=handle.region,
        websocket_url=handle.websocket_url,
        connections_endpoint=handle.connections_endpoint,
        bucket=handle.bucket,
        table=handle.table,
        functions=handle.functions,
        lambda_endpoint=handle.lambda_endpoint,
        s3_endpoint=handle.s3_endpoint,
        credentials=LOCAL_CREDENTIALS,
        not_relayed=list(handle.not_relayed),
        notes=list(handle.notes),
        skipped_types=dict(handle.skipped_types),
        endpoint_url=handle.endpoint_url or None,
        apis=handle.apis,
        stacks=handle.stacks,
    )


async def _aws_target(options: StartOptions, view: LiveView) -> LiveTarget:
    from relay.cloud.cdk_cli import DeployError
    from relay.cloud.go_live import go_live

    try:
        live = await asyncio.to_thread(
            go_live,
            options.stage,
            options.project,
            increase_timeout=options.increase_timeout,
            layer_dirs=options.layer_dirs,
            progress=view.info,
            observe=options.observe,
        )
    except DeployError as exc:
        raise _StartError(str(exc)) from None
    return LiveTarget(
        mode="aws",
        stage=live.stage,
        region=live.region,
        websocket_url=live.websocket_url,
        connections_endpoint=live.connections_endpoint,
        bucket=live.bucket,
        table=live.table,
        functions=live.functions,
        credentials=None,  # the developer's own boto3 credential chain
        session=live.session,
        not_relayed=list(live.not_relayed),
        notes=list(live.notes),
    )


def _session(
    options: StartOptions, target: LiveTarget, connection_id: str | None, *, direct: bool = False
) -> sessions.Session:
    return sessions.Session(
        stage=options.stage,
        mode=target.mode,
        direct=direct,
        websocket_url=target.websocket_url,
        connections_endpoint=target.connections_endpoint,
        region=target.region,
        connection_id=connection_id,
        lambda_endpoint=target.lambda_endpoint,
        endpoint_url=target.endpoint_url,
        apis=target.apis,
        stacks=target.stacks,
        functions=[
            sessions.SessionFunction(
                path=f.path,
                function_name=f.function_name,
                function_url=f.function_url,
                handler=f.handler,
                code_dir=str(f.code_dir),
            )
            for f in target.functions
        ],
    )


def _settle() -> None:
    """Leave what start-up built (the emulator's services, the app's assembly: ~80,000
    objects) out of the garbage collector's full passes. Each pass walked all of it: a 30-80
    ms pause in serving, once or twice in the first 12 s of load here, for objects that live
    as long as relay. Only start-up's few cycles of garbage stay uncollected."""
    gc.freeze()


def _runtime(view: LiveView, debug: Any = None) -> Any:
    """The local runtime, building each function's own environment (relay/runtime/envs.py)."""
    from relay.runtime import LocalRuntime
    from relay.runtime.envs import EnvBuilder

    envs = EnvBuilder(progress=view.info)
    return LocalRuntime(watch=True, on_log=view.log, debug=debug, envs=envs)


async def _prepare_functions(view: LiveView, target: LiveTarget, runtime: Any) -> None:
    """Say what the app's functions need to know once, and build their environments now
    (progress shown), so that the first invocation after ready does not wait for pip."""
    for note in target.notes:
        view.info(note)
    if target.skipped_types:
        kinds = ", ".join(f"{k} ({n})" for k, n in sorted(target.skipped_types.items()))
        view.info(f"the emulator does not provide: {kinds}")
    paths = {f.function_name: f.path for f in target.functions}
    if runtime.envs is not None:
        runtime.envs.label = lambda name: paths.get(name, name)
    for failure in await runtime.prepare([f.config for f in target.functions]):
        view.error(str(failure))  # that function's own problem: the others are served


async def _run_client(options: StartOptions, view: LiveView, target: LiveTarget, debug: Any) -> int:
    from relay.client import RelayClient
    from relay.observe.observers import ObserverError

    view.name_functions({f.function_name: f.path for f in target.functions})
    runtime = _runtime(view, debug)
    await runtime.start()
    try:
        observers = await _observers(options, view, runtime, target)
    except ObserverError as exc:
        view.error(str(exc))
        await runtime.close()
        return 2
    await _prepare_functions(view, target, runtime)
    ready = asyncio.Event()

    def on_connected(connection_id: str) -> None:
        sessions.save(options.project, _session(options, target, connection_id))
        if not ready.is_set():
            ready.set()
            view.ready(options.stage, target.mode, target.functions, target.not_relayed)
            _settle()
            for api in target.apis:
                view.info(f"{api['type']} API {api['path']}: {api['url']}")
        else:
            view.info(f"reconnected as {connection_id}")

    client = RelayClient(
        stage=options.stage,
        websocket_url=target.websocket_url,
        connections_endpoint=target.connections_endpoint,
        region=target.region,
        session=_boto_session(target),
        s3_endpoint=target.s3_endpoint,
        runtime=runtime,
        functions={f.function_name: f.config for f in target.functions},
        on_event=observers.feed.publish,
        on_connected=on_connected,
        local_credentials=options.local_credentials,
    )
    loop = asyncio.get_running_loop()
    replaced = _Replaced(view, options.stage, lambda: asyncio.ensure_future(client.stop()))
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(client.stop()))
    if target.cleanup:  # this process owns the emulator: a newer relay start may replace it
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(REPLACED_SIGNAL, replaced)
    side_tasks: list[asyncio.Task[None]] = []
    if options.demo:
        side_tasks.append(asyncio.create_task(_demo(ready, target, view)))
    if target.mode == "aws":
        from relay.cloud.infra_watch import watch_infrastructure

        code_dirs = [Path(f.code_dir) for f in target.functions]
        side_tasks.append(
            asyncio.create_task(
                watch_infrastructure(
                    options.stage,
                    options.project,
                    code_dirs,
                    view,
                    increase_timeout=options.increase_timeout,
                    observe=options.observe,
                )
            )
        )
    try:
        code = await client.run()
    finally:
        for task in side_tasks:
            task.cancel()
        await runtime.close()
        await observers.close()
        if target.mode == "local" and target.cleanup:
            # The emulator dies with this process: a session file would point nowhere.
            sessions.session_path(options.project, options.stage).unlink(missing_ok=True)
    if replaced.happened:
        return EXIT_REPLACED
    if code == 0:
        _say_what_is_left(options, view, target, emulator_stopped=bool(target.cleanup))
    return code


def _boto_session(target: LiveTarget) -> Any:
    """The developer's credentials: the emulator's well-known pair, or the usual AWS chain."""
    import boto3

    if target.session is not None:
        return target.session
    if target.credentials is None:
        return boto3.Session(region_name=target.region)
    return boto3.Session(
        aws_access_key_id=target.credentials[0],
        aws_secret_access_key=target.credentials[1],
        region_name=target.region,
    )


async def _observers(
    options: StartOptions, view: LiveView, runtime: Any, target: LiveTarget
) -> Any:
    """The live view, recorder and web console, subscribed to one invocation feed."""
    from relay.observe.observers import open_observers

    return await open_observers(
        project=options.project,
        stage=options.stage,
        view=view,
        record=options.record,
        console=options.console,
        console_port=options.console_port,
        runtime=runtime,
        functions={f.function_name: f.path for f in target.functions},
    )


async def _serve_direct(options: StartOptions, view: LiveView) -> int:
    """Direct mode: the emulator in this process, its front doors calling the runtime.

    See relay/commands/direct.py and docs/architecture.md ("Direct mode") for why: the stub, the
    WebSocket and a second process cost ~5x the CPU of the invocation itself.
    """
    from relay.cloud import synth
    from relay.commands.direct import DirectInvoker, direct_config
    from relay.emulator import LOCAL_CREDENTIALS, Emulator
    from relay.emulator.command import remove_own_state, write_state
    from relay.emulator.provision import ProvisionError, create, synthesize
    from relay.observe.observers import ObserverError

    async with contextlib.AsyncExitStack() as stack:
        with view.status("starting the embedded emulator (synthesizing the app in live mode)"):
            # Its own runtime serves the stub's functions only, never invoked in direct mode.
            emulator = Emulator(runtime_spares=0)
            # The synthesis (jsii, in child processes) runs while this process starts the
            # runtime's spares and the emulator (moto's import and server).
            synthesizing = asyncio.to_thread(
                synthesize, project=options.project, stage=options.stage,
                region=emulator.region, account=emulator.account_id,
                increase_timeout=options.increase_timeout, debug_stack=False,
            )  # fmt: skip
            synthesis = asyncio.ensure_future(synthesizing)
            synthesis.add_done_callback(_observed)
            # uv's interpreter discovery takes seconds on some machines (it asks each pyenv
            # shim): started now for the runtimes of the stage's last start, so that it runs
            # beside the emulator's start and the stage's creation, not after them.
            warming = [_warm_interpreters(synth.previous_functions(options.project, options.stage))]
            runtime = None
            if not options.debug:
                # Spare workers are generic processes: they start (and import the runtime
                # client) while the app is synthesized, so the first invocation finds one warm.
                # Under --debug they must start after debugpy is listening (after the cloud).
                runtime = await stack.enter_async_context(_runtime(view))
            await stack.enter_async_context(emulator)
            # The synthesis is a child process: this one only waits. The modules it imports
            # after the creation are imported now.
            preloaded = asyncio.ensure_future(asyncio.to_thread(_preload))
            preloaded.add_done_callback(_observed)
            try:
                synthesized = await synthesis
                await preloaded
                # the app's runtimes now known (nothing to do if found already)
                warming.append(_warm_interpreters(synthesized.records))
                # No stub and no WebSocket client here, so no debug stack (its API, table and
                # bucket would only cost a synthesis and memory: moto's DynamoDB and S3, ~55 MB).
                provisioned = await asyncio.to_thread(
                    create, emulator, synthesized, layer_dirs=options.layer_dirs
                )
            except ProvisionError as exc:
                view.error(str(exc))
                return 2
        for warning in provisioned.warnings:
            view.warn(warning)
        state = write_state(
            options.project, options.stage, emulator, provisioned, owner_pid=os.getpid()
        )
        stack.callback(remove_own_state, state)
        stack.callback(
            sessions.session_path(options.project, options.stage).unlink, missing_ok=True
        )
        target = LiveTarget(
            mode="local",
            stage=provisioned.stage,
            region=emulator.region,
            websocket_url=provisioned.websocket_url,
            connections_endpoint=provisioned.connections_endpoint,
            bucket=provisioned.bucket,
            table=provisioned.table,
            functions=provisioned.functions,
            lambda_endpoint=emulator.lambda_endpoint,
            s3_endpoint=emulator.endpoints["s3"],
            credentials=LOCAL_CREDENTIALS,
            not_relayed=list(provisioned.not_relayed),
            notes=list(provisioned.notes),
            skipped_types=dict(provisioned.skipped_types),
            endpoint_url=emulator.endpoint_url,
            apis=list(provisioned.apis),
            stacks=dict(provisioned.stacks),
        )
        if runtime is None:
            # After the cloud side is up: a debugger follows the handlers' workers only.
            debug = _enable_debug(options, view)
            runtime = await stack.enter_async_context(_runtime(view, debug))
        assert runtime is not None
        view.name_functions({f.function_name: f.path for f in target.functions})
        try:
            observers = await _observers(options, view, runtime, target)
        except ObserverError as exc:
            view.error(str(exc))
            return 2
        stack.push_async_callback(observers.close)
        await _prepare_functions(view, target, runtime)
        credentials = (
            (LOCAL_CREDENTIALS.access_key, LOCAL_CREDENTIALS.secret_key)
            if options.local_credentials
            else None
        )
        for fn in target.functions:
            config = direct_config(
                fn.config, emulator.environment(fn.function_name), local_credentials=credentials
            )
            invoker = DirectInvoker(runtime, config, observers.feed.publish, function_path=fn.path)
            emulator.route(fn.function_name, invoker)
            stack.callback(emulator.route, fn.function_name, None)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        replaced = _Replaced(view, options.stage, stop.set)
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(REPLACED_SIGNAL, replaced)
        sessions.save(options.project, _session(options, target, None, direct=True))
        view.ready(options.stage, target.mode, target.functions, target.not_relayed)
        _settle()
        for api in target.apis:
            view.info(f"{api['type']} API {api['path']}: {api['url']}")
        if options.demo:
            ready = asyncio.Event()
            ready.set()
            stack.callback(asyncio.create_task(_demo(ready, target, view)).cancel)
        await stop.wait()
        if replaced.happened:
            return EXIT_REPLACED
        _say_what_is_left(options, view, target, emulator_stopped=True)
        return 0


def _preload() -> None:
    """The web console's modules, imported when the observers open after the creation."""
    import relay.ui.console
    import relay.ui.console.actions  # noqa: F401


def _warm_interpreters(functions: list[dict[str, Any]]) -> asyncio.Future[None]:
    """Find the Python interpreters these functions need in a thread (relay/runtime/envs.py)."""
    from relay.runtime.envs import warm_interpreters

    runtimes = [f.get("runtime") or "" for f in functions if f.get("relayed")]
    warming = asyncio.ensure_future(asyncio.to_thread(warm_interpreters, runtimes))
    warming.add_done_callback(_observed)
    return warming


def _observed(task: asyncio.Future[Any]) -> None:
    """Its outcome is read where it is awaited; never "exception was never retrieved"."""
    if not task.cancelled():
        task.exception()


def _say_what_is_left(
    options: StartOptions, view: LiveView, target: LiveTarget, *, emulator_stopped: bool
) -> None:
    """On a clean stop: what still runs of the stage, and how to leave it or remove it."""
    stage = options.stage
    if target.mode == "aws" and options.observe is not None:
        view.info(
            f"stopped. Stage '{stage}' keeps serving its real code in AWS, wrapped by relay's "
            f"observe layer (copies go nowhere while no `relay start` listens); `relay deploy "
            f"--stage {stage}` removes the wrapper."
        )
    elif target.mode == "aws":
        view.info(
            f"stopped. Stage '{stage}' stays live in AWS: its functions still point at the "
            f"stub and answer with an error until `relay start --stage {stage}` serves them "
            f"again. To leave: `relay deploy --stage {stage}` puts the real code back; "
            f"`relay remove --stage {stage}` deletes the debug stack (--all: the app's "
            "stacks too)."
        )
    elif emulator_stopped:
        view.info(f"stopped. Stage '{stage}' was on the embedded emulator, which stopped too.")
    else:
        view.info(
            f"stopped. The `relay emulator` serving stage '{stage}' keeps running for the next "
            f"`relay start --local --stage {stage}`; Ctrl-C in its terminal stops it."
        )


async def _demo(ready: asyncio.Event, target: LiveTarget, view: LiveView) -> None:
    """Exercise each demo function once through its real front door (README quick start)."""
    from relay.commands.demo_calls import run_demo_calls

    await ready.wait()
    try:
        await asyncio.to_thread(run_demo_calls, target, view)
    except Exception as exc:  # the demo must never take the session down
        view.warn(f"demo calls failed: {exc}")
