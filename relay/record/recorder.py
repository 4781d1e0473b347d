"""The recorder: an :class:`~relay.observe.invocations.InvocationFeed` subscriber that writes each
finished live invocation to the stage's :class:`~relay.record.store.EventStore`.

An event published on an event loop is converted to its line of JSON on that loop, right after
the step that published it (so after the caller's answer is written); one long-lived writer
thread only appends the lines, once per ``BATCH_WINDOW_S``, so the loop never waits for a disk.
Converting in the writer thread instead made it fight the serving thread for the GIL: the
serving thread waited out whole batches or the interpreter's 5 ms switch interval, ~20 stalls
of 4-5 ms a second in a caller's latency at 1,500 req/s (bench/peers.py p99 4.2 ms; 0.9 ms
without recording). An event published off any loop is converted where it is published.
``close`` (when `relay start` stops, and at interpreter exit as a safety net) converts and
writes everything published first, so Ctrl-C loses no recording. A failed write is logged
once and the invocation is unaffected.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any

from relay.observe.invocations import InvocationEvent
from relay.record.recording import to_record
from relay.record.store import EventStore, encode

log = logging.getLogger("relay.record")

#: Replays are run from recordings already; recording them again would only add noise.
_NOT_RECORDED = frozenset({"replay"})
#: Most lines taken in one write (bounds the memory of one batch).
MAX_BATCH = 512
#: How long the writer lets lines gather after the first of a batch: one wake-up and one
#: ``write`` per window, not per invocation. A recording appears this much later.
BATCH_WINDOW_S = 0.05

#: A recording's line, and the record it encodes (the store's listing reads its id and time).
Encoded = tuple[dict[str, Any], bytes]


class Recorder:
    def __init__(self, store: EventStore, stage: str, redact_paths: list[str]) -> None:
        self.store = store
        self.stage = stage
        self.redact_paths = list(redact_paths)
        self._pending: list[InvocationEvent] = []  # published on a loop, not converted yet
        self._pending_lock = threading.Lock()
        self._queue: queue.SimpleQueue[list[Encoded] | None] = queue.SimpleQueue()
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
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop here: nothing to keep waiting
            self._queue.put(self._encode([event]))
            return
        with self._pending_lock:
            self._pending.append(event)
            first = len(self._pending) == 1
        if first:  # the events published before it runs join its batch
            loop.call_soon(self._convert_pending)

    def _convert_pending(self) -> None:
        with self._pending_lock:
            events, self._pending = self._pending, []
        if events:
            self._queue.put(self._encode(events))

    def _encode(self, events: list[InvocationEvent]) -> list[Encoded]:
        encoded: list[Encoded] = []
        for event in events:
            try:
                encoded.append(
                    encode(to_record(event, self.stage, self.redact_paths, unparsed=True))
                )
            except Exception as exc:  # one odd event must not cost the others their record
                self._warn(exc)
        return encoded

    def _drain(self) -> None:
        backlog = False
        while True:
            first = self._queue.get()
            if first is not None and not backlog:
                time.sleep(BATCH_WINDOW_S)  # close()'s marker simply joins the batch
            batch: list[Encoded] = []
            item: list[Encoded] | None = first
            closing = False
            while True:
                if item is None:
                    closing = True
                else:
                    batch += item
                if len(batch) >= MAX_BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            backlog = len(batch) >= MAX_BATCH  # more is waiting: no window for the next
            if batch:
                self._write(batch)
            if closing:
                return

    def _write(self, batch: list[Encoded]) -> None:
        try:
            self.store.add_encoded(batch)
        except Exception as exc:
            self._warn(exc)

    def _warn(self, exc: Exception) -> None:
        if not self._warned:
            self._warned = True
            log.warning("relay: could not record invocations in %s: %s", self.store.folder, exc)

    def close(self) -> None:
        """Convert and write what was published, then stop the writer (idempotent)."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self._convert_pending()
        if self._writer.is_alive():
            self._queue.put(None)
            self._writer.join()
        self.store.close()
