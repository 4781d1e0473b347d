"""Who watches a `relay start` session's invocations: the live view, the recorder and the web
console, all subscribed to one :class:`~relay.invocations.InvocationFeed`.

`relay start` builds this once and hands ``feed.publish`` to whatever delivers invocations to
the local runtime (the relay client, or the emulator's direct mode).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relay.invocations import InvocationFeed
from relay.record.recorder import Recorder
from relay.record.redact import RedactionConfigError, load_paths


class ObserverError(Exception):
    """An observer could not start; the message says what to change."""


@dataclass
class Observers:
    feed: InvocationFeed
    recorder: Recorder | None = None
    console: Any = None
    closers: list[Any] = field(default_factory=list)

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
) -> Observers:
    """The feed with the live view and, as asked, the recorder subscribed."""
    feed = InvocationFeed(view.event)
    observers = Observers(feed)
    if record:
        try:
            paths = load_paths(project)
        except RedactionConfigError as exc:
            raise ObserverError(f"{exc} (or pass --no-record)") from None
        observers.recorder = Recorder.for_stage(project, stage, paths)
        feed.subscribe(observers.recorder)
    return observers
