"""The recorder: an :class:`~relay.observe.invocations.InvocationFeed` subscriber that writes each
finished live invocation to the stage's :class:`~relay.record.store.EventStore`.

Writes happen on one long-lived background thread, in order, so the event loop serving
invocations never waits for a disk; handing an event over is one lock-free queue put (a
thread pool's future per event cost a futex wake-up each: bench/bench_record.py). A failed
write is logged once and the invocation is unaffected.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

from relay.observe.invocations import InvocationEvent
from relay.record.recording import to_record
from relay.record.store import EventStore

log = logging.getLogger("relay.record")

#: Replays are run from recordings already; recording them again would only add noise.
_NOT_RECORDED = frozenset({"replay"})


class Recorder:
    def __init__(self, store: EventStore, stage: str, redact_paths: list[str]) -> None:
        self.store = store
        self.stage = stage
        self.redact_paths = list(redact_paths)
        self._queue: queue.SimpleQueue[InvocationEvent | None] = queue.SimpleQueue()
        self._warned = False
        self._writer = threading.Thread(target=self._drain, name="relay-record", daemon=True)
        self._writer.start()

    @classmethod
    def for_stage(cls, project: Path, stage: str, redact_paths: list[str]) -> Recorder:
        from relay.record.store import events_dir

        return cls(EventStore(events_dir(project, stage)), stage, redact_paths)

    def __call__(self, event: InvocationEvent) -> None:
        if not event.finished or event.payload is None or event.source in _NOT_RECORDED:
            return
        self._queue.put(event)

    def _drain(self) -> None:
        while (event := self._queue.get()) is not None:
            self._write(event)

    def _write(self, event: InvocationEvent) -> None:
        try:
            self.store.add(to_record(event, self.stage, self.redact_paths))
        except Exception as exc:
            if not self._warned:
                self._warned = True
                log.warning("relay: could not record invocations in %s: %s", self.store.folder, exc)

    def close(self) -> None:
        """Write what is queued, then stop the writer."""
        if self._writer.is_alive():
            self._queue.put(None)
            self._writer.join()
