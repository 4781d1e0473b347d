"""Who watches a `relay start` session's invocations: the live view, the recorder and the web
console, all subscribed to one :class:`~relay.observe.invocations.InvocationFeed`.

`relay start` builds this once and hands ``feed.publish`` to whatever delivers invocations to
the local runtime (the relay client, or the emulator's direct mode).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relay.observe.invocations import InvocationFeed
from relay.record.recorder import Recorder
from relay.record.redact import RedactionConfigError, load_paths


class ObserverError(Exception):
    """An observer could not start; the message says what to change."""


@dataclass
class Observers:
    feed: InvocationFeed
    recorder: Recorder | None = None
    console: Any = None

    async def close(self) -> None:
        if self.console is not None:
            await self.console.close()
        if self.recorder is not None:
            self.recorder.close()


async def open_observers(
    *,
    project: Path,
    stage: str,
    view: Any,
    record: bool,
    console: bool = False,
    console_port: int = 0,
    runtime: Any = None,
    functions: dict[str, str] | None = None,
) -> Observers:
    """The feed with the live view and, as asked, the recorder and the web console."""
    feed = InvocationFeed(view.event, _differences_to(view))
    observers = Observers(feed)
    try:
        paths = load_paths(project)
    except RedactionConfigError as exc:
        raise ObserverError(str(exc)) from None
    if record:
        observers.recorder = Recorder.for_stage(project, stage, paths)
        feed.subscribe(observers.recorder)
    if console:
        observers.console = await _open_console(
            project, stage, feed, runtime, functions or {}, paths, console_port
        )
        view.info(f"console: {observers.console.url}")
    return observers


async def _open_console(
    project: Path,
    stage: str,
    feed: InvocationFeed,
    runtime: Any,
    functions: dict[str, str],
    redact_paths: list[str],
    port: int,
) -> Any:
    from relay.ui.console import Console
    from relay.ui.console.actions import ConsoleActions

    console = Console(
        stage=stage,
        functions=functions,
        redact_paths=redact_paths,
        reloads=lambda: dict(runtime.reloads) if runtime is not None else {},
        port=port,
    )
    if runtime is not None:
        actions = ConsoleActions(
            state=console.state,
            runtime=runtime,
            publish=feed.publish,
            project=project,
            stage=stage,
            redact_paths=redact_paths,
        )
        console.actions.update(actions.as_dict())
    try:
        await console.start()
    except OSError as exc:
        raise ObserverError(
            f"the web console could not listen on 127.0.0.1:{port} ({exc.strerror}); "
            "pass --console-port with a free port, or --no-console"
        ) from None
    feed.subscribe(console)
    return console


def _differences_to(view: Any) -> Any:
    """Observe mode: say in the terminal where the local answer differs from the cloud's."""
    from relay.ui.console.state import observed_differences

    def report(event: Any) -> None:
        if event.source != "observe" or event.cloud_result is None:
            return
        found = observed_differences(event)
        if found:
            where = (event.context.function_path if event.context else "") or event.function
            view.warn(f"{where} ({event.request_id}): local differs from the cloud: "
                      + "; ".join(found))  # fmt: skip

    return report
