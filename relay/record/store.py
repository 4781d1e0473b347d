"""The stage's recorded invocations on disk, under ``.relay/stages/<stage>/events/`` (folder
0700, files 0600), oldest dropped past a size cap.

Recordings are appended to segment files (``<epoch µs>.jsonl``, one compact JSON document a
line), one ``write`` per batch to a descriptor kept open; a segment is closed at about
``SEGMENT_BYTES`` and the cap drops whole segments, oldest first. Creating a file per
recording cost the kernel 0.25-0.6 ms each on a busy machine, an append a few µs
(docs/notes/2026-12-01/recordperf.md). Earlier relays wrote one file per recording
(``<epoch µs or ms>-<id>.json``); those are read, counted by the cap and dropped as before.

A reader only takes lines that end with a newline: the last line of a segment being written
(or cut short by a crash) is skipped until it is whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relay.record.recording import MAX_RECORD_BYTES, inflate

#: Default cap on the folder's total size; the oldest recordings go first.
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
#: A segment is closed once it holds this much (less under a small cap, so that the cap,
#: which drops whole segments, keeps most of what it allows).
SEGMENT_BYTES = 1024 * 1024
SEGMENT_SUFFIX = ".jsonl"

# A segment's line starts with the recording's id and time (``encode`` puts them first), so
# a listing by id needs no JSON parse of the rest.
_HEAD = re.compile(
    rb'\{"id": "([0-9A-Za-z_.-]*)", "at": (-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)[,}]'
)
#: What a recording too large keeps out.
_PAYLOADS = frozenset({"event", "result", "event_json", "result_json", "event_text", "result_text"})
#: One encoder for every line (``json.dumps`` with an argument builds one per call).
_ENCODER = json.JSONEncoder(ensure_ascii=False)
_APPEND = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC


class RecordNotFound(LookupError):
    """No recording matches the id; the message says how to list them."""


def events_dir(project: Path, stage: str) -> Path:
    return project / ".relay" / "stages" / stage / "events"


@dataclass(frozen=True)
class Entry:
    """Where one recording is: a line of a segment (``offset``, ``size`` bytes with its
    newline), or a whole file of the one-file-per-recording layout (``offset`` -1)."""

    path: Path
    id: str
    at_ms: int
    size: int
    stamp: int = 0  # microseconds (the recording's time)
    offset: int = -1


@dataclass
class _File:
    """A file of the folder as the cap sees it: a segment or an earlier relay's recording."""

    path: Path
    stamp: int  # microseconds from the name: the folder's order
    size: int
    segment: bool


class EventStore:
    """Writes and finds recordings; safe to call from one writer thread and any readers
    (in this process or others)."""

    def __init__(
        self, folder: Path, max_bytes: int = DEFAULT_MAX_BYTES, segment_bytes: int | None = None
    ) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes or max(1, min(SEGMENT_BYTES, max_bytes // 16))
        self._lock = threading.Lock()
        self._files: list[_File] | None = None  # oldest first, loaded on first write
        self._total = 0
        self._folder_ready = False
        self._fd = -1  # the segment being appended to
        self._segment: _File | None = None

    # -- writing ------------------------------------------------------------------------

    def add(self, record: dict[str, Any]) -> Entry:
        """Write one recording (its ``id`` and ``at`` are filled in) and apply the cap."""
        return self.add_many([record])[0]

    def add_many(self, records: list[dict[str, Any]]) -> list[Entry]:
        """Append recordings in the order given (one write), then apply the cap once.

        The recorder hands over whatever queued up while it was writing: one lock, one
        write and one pass of the cap per batch, not per invocation.
        """
        return self.add_encoded([encode(record) for record in records])

    def add_encoded(self, encoded: list[tuple[dict[str, Any], bytes]]) -> list[Entry]:
        """``add_many`` of records already through :func:`encode` (the recorder encodes on
        the serving loop and hands its writer thread only lines)."""
        data = b"".join(line for _, line in encoded)
        with self._lock:
            segment = self._segment_for_write()
            try:
                _write_all(self._fd, data)
            except BaseException:
                # what was written of the batch stays a torn last line, which readers skip;
                # the next batch goes to a new segment rather than after it
                self._close_segment()
                raise
            written: list[Entry] = []
            offset = segment.size
            for record, line in encoded:
                at = record["at"] if isinstance(record["at"], int | float) else 0
                micros = int(at * 1_000_000)
                written.append(
                    Entry(segment.path, record["id"], micros // 1000, len(line), micros, offset)
                )
                offset += len(line)
            segment.size = offset
            self._total += len(data)
            if segment.size >= self.segment_bytes:
                self._close_segment()
            self._apply_cap()
        return written

    def close(self) -> None:
        """Close the segment being written (the next write starts a new one)."""
        with self._lock:
            self._close_segment()

    def _segment_for_write(self) -> _File:
        if self._segment is not None and os.fstat(self._fd).st_nlink == 0:
            # removed under us (the folder or the file deleted while relay ran): start
            # again from what is on disk now, or the appends would go nowhere
            self._close_segment()
            self._files = None
            self._folder_ready = False
        if self._segment is not None:
            return self._segment
        for attempt in range(2):
            self._ensure_folder()
            files = self._load_files()
            stamp = max(time.time_ns() // 1000, files[-1].stamp + 1 if files else 0)
            try:
                self._fd, path = _create_segment(self.folder, stamp)
            except FileNotFoundError:  # the folder was removed while relay ran
                if attempt:
                    raise
                self._files, self._folder_ready = None, False
                continue
            segment = _File(path, int(path.name[: -len(SEGMENT_SUFFIX)]), 0, segment=True)
            files.append(segment)
            self._segment = segment
            return segment
        raise AssertionError("unreachable")

    def _close_segment(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd = -1
        self._segment = None

    def _apply_cap(self) -> None:
        files = self._files or []
        while self._total > self.max_bytes and len(files) > 1:
            oldest = files.pop(0)  # never the segment being written: it is the last
            with contextlib.suppress(FileNotFoundError):
                oldest.path.unlink()
            self._total -= oldest.size

    def _ensure_folder(self) -> None:
        """Once per store (and again if the folder vanished): 0700 whatever the umask."""
        if self._folder_ready:
            return
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.folder, 0o700)  # mkdir's mode is masked by umask and skips existing
        self._folder_ready = True

    def _load_files(self) -> list[_File]:
        if self._files is None:
            self._files = []
            for path, stamp, segment in _listing(self.folder):
                try:
                    size = path.stat().st_size
                except FileNotFoundError:
                    continue
                self._files.append(_File(path, stamp, size, segment))
            self._total = sum(f.size for f in self._files)
            # an earlier relay's half-written file (it renamed whole files into place)
            for stale in self.folder.glob("*.json.tmp"):
                with contextlib.suppress(OSError):
                    stale.unlink()
        return self._files

    # -- reading ------------------------------------------------------------------------

    def entries(self) -> list[Entry]:
        """All recordings, oldest first (segments' lines read for ids, not parsed)."""
        found: list[Entry] = []
        for path, stamp, segment in _listing(self.folder):
            if segment:
                found += [entry for entry, _ in _segment_lines(path, parse=False)]
                continue
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            found.append(Entry(path, path.stem.partition("-")[2], stamp // 1000, size, stamp))
        return found

    def records(self) -> Iterator[tuple[Entry, dict[str, Any]]]:
        """Every readable recording with its document, oldest first (each file read once)."""
        for path, stamp, segment in _listing(self.folder):
            if segment:
                for entry, record in _segment_lines(path, parse=True):
                    if record is not None:
                        yield entry, inflate(record)
                continue
            try:
                data = path.read_bytes()
                record = json.loads(data)
            except (OSError, ValueError):
                continue  # removed by the cap meanwhile, or not a recording
            if not isinstance(record, dict):
                continue
            entry = Entry(path, path.stem.partition("-")[2], stamp // 1000, len(data), stamp)
            yield entry, record

    def load(self, entry: Entry) -> dict[str, Any]:
        if entry.offset < 0:
            return inflate(json.loads(entry.path.read_text()))
        with entry.path.open("rb") as file:
            file.seek(entry.offset)
            return inflate(json.loads(file.read(entry.size)))

    def find(self, wanted: str) -> dict[str, Any]:
        """The recording with this id (or unique id prefix); ``last`` is the newest."""
        entries = self.entries()
        if wanted == "last" and entries:
            return self.load(entries[-1])
        matches = [e for e in entries if e.id == wanted] or [
            e for e in entries if e.id.startswith(wanted)
        ]
        if len(matches) == 1:
            return self.load(matches[0])
        if not matches:
            raise RecordNotFound(
                f"no recorded invocation {wanted!r} in {self.folder}; list them with `relay events`"
            )
        raise RecordNotFound(
            f"{wanted!r} matches {len(matches)} recordings ({', '.join(m.id for m in matches)}); "
            "give more of the id"
        )


def new_id() -> str:
    return secrets.token_hex(4)


def _listing(folder: Path) -> list[tuple[Path, int, bool]]:
    """The folder's segments and earlier relays' recordings: (path, µs, is a segment), in
    the folder's order (by the time in the name)."""
    found: list[tuple[int, str, Path, bool]] = []
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    for name in names:
        if name.endswith(SEGMENT_SUFFIX):
            stem = name[: -len(SEGMENT_SUFFIX)]
            if stem.isdigit():
                found.append((int(stem), "", folder / name, True))
        elif name.endswith(".json"):
            stamp, _, rest = name[:-5].partition("-")
            if stamp.isdigit() and rest:
                # 16 digits: microseconds; 13: milliseconds (the first relays)
                micros = int(stamp) if len(stamp) > 13 else int(stamp) * 1000
                found.append((micros, rest, folder / name, False))
    found.sort(key=lambda f: (f[0], f[1]))
    return [(path, stamp, segment) for stamp, _, path, segment in found]


def _segment_lines(path: Path, *, parse: bool) -> Iterator[tuple[Entry, dict[str, Any] | None]]:
    """A segment's whole lines (a last line without its newline is still being written)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:  # dropped by the cap meanwhile
        return
    start = 0
    while (end := data.find(b"\n", start)) >= 0:
        line = data[start : end + 1]
        record: dict[str, Any] | None = None
        head = _HEAD.match(line)
        if parse or head is None:
            try:
                document = json.loads(line)
            except ValueError:
                document = None
            if isinstance(document, dict) and isinstance(document.get("id"), str):
                record = document
        if head is not None:
            record_id, at = head.group(1).decode(), float(head.group(2))
        elif record is not None:
            stated = record.get("at")
            record_id, at = record["id"], stated if isinstance(stated, int | float) else 0
        else:
            start = end + 1
            continue  # not a recording (never written by relay): skipped
        micros = int(at * 1_000_000)
        yield Entry(path, record_id, micros // 1000, len(line), micros, start), record
        start = end + 1


def encode(record: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """The record with ``id``/``at`` filled in (first, for the listing) and its line of
    compact JSON (json's C encoder serves only ``indent=None``; it escapes every newline
    inside strings, so a line is one recording); a recording too large keeps its event and
    result out."""
    record = {"id": record.get("id") or new_id(), "at": record.get("at", 0), **record}
    data = _ENCODER.encode(record).encode()
    if len(data) > MAX_RECORD_BYTES:
        record = {key: value for key, value in record.items() if key not in _PAYLOADS}
        record.update(event=None, result=None, truncated=len(data))
        data = _ENCODER.encode(record).encode()
    return record, data + b"\n"


def _create_segment(folder: Path, stamp: int) -> tuple[int, Path]:
    """A new segment named for ``stamp`` (or the next free microsecond: another relay's).

    ``O_EXCL``: the file is new, so its mode is 0600 less the umask, never more."""
    while True:
        path = folder / f"{stamp:016d}{SEGMENT_SUFFIX}"
        try:
            return os.open(path, _APPEND, 0o600), path
        except FileExistsError:
            stamp += 1


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
