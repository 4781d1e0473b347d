"""The recorder: an :class:`~relay.observe.invocations.InvocationFeed` subscriber that writes each
finished live invocation to the stage's :class:`~relay.record.store.EventStore`.

One long-lived writer thread does all of it, in order, so the event loop serving invocations
never waits for a disk: handing an event over is one lock-free queue put. The writer wakes
for the first event of a batch, lets the batch gather for ``BATCH_WINDOW_S``, then converts
and writes it all (one wake-up, one lock and one pass of the size cap per batch). ``close``
(when `relay start` stops, and at interpreter exit as a safety net) writes everything queued
first, so Ctrl-C loses no recording. A failed write is logged once and the invocation is
unaffected.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any

from relay.observe.invocations import InvocationEvent
from relay.record.recording import to_record
from relay.record.store import EventStore

log = logging.getLogger("relay.record")

#: Replays are run from recordings already; recording them again would only add noise.
_NOT_RECORDED = frozenset({"replay"})
#: Most events taken in one batch (bounds the memory of one batch's encoded records).
MAX_BATCH = 512
#: How long the writer lets a batch gather after its first event. Each wake-up of a second
#: thread fights the event loop for the GIL: per event that cost the serving thread more
#: than the writing itself (bench/bench_scaling.py). A recording appears this much later.
BATCH_WINDOW_S = 0.05


class Recorder:
    def __init__(self, store: EventStore, stage: str, redact_paths: list[str]) -> None:
        self.store = store
        self.stage = stage
        self.redact_paths = list(redact_paths)
        self._queue: queue.SimpleQueue[InvocationEvent | None] = queue.SimpleQueue()
        self._warned = False
        self._closed = False
        self._writer = threading.Thread(target=self._drain, name="relay-record", daemon=True)
        self._writer.start()
        atexit.register(self.close)

    @classmethod
    def for_stage(cls, project: Path, stage: str, redact_paths: list[str]) -> Recorder:
        from relay.record.store import events_dir

        return cls(EventStore(events_dir(project, stage)), stage, redact_paths)

    def __call__(self, event: InvocationEvent) -> None:
        if not event.finished or event.payload is None or event.source in _NOT_RECORDED:
            return
        self._queue.put(event)

    def _drain(self) -> None:
        backlog = False
        while True:
            first = self._queue.get()
            if first is not None and not backlog:
                time.sleep(BATCH_WINDOW_S)  # close()'s marker simply joins the batch
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            backlog = len(batch) == MAX_BATCH  # more is waiting: no window for the next
            events = [event for event in batch if event is not None]
            self._write(events)
            if len(events) < len(batch):  # close() was called
                return

    def _write(self, events: list[InvocationEvent]) -> None:
        records: list[dict[str, Any]] = []
        for event in events:
            try:
                records.append(to_record(event, self.stage, self.redact_paths, unparsed=True))
            except Exception as exc:  # one odd event must not cost the others their record
                self._warn(exc)
        if not records:
            return
        try:
            self.store.add_many(records)
        except Exception as exc:
            self._warn(exc)

    def _warn(self, exc: Exception) -> None:
        if not self._warned:
            self._warned = True
            log.warning("relay: could not record invocations in %s: %s", self.store.folder, exc)

    def close(self) -> None:
        """Write what is queued, then stop the writer (idempotent)."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        if self._writer.is_alive():
            self._queue.put(None)
            self._writer.join()
        self.store.close()
