"""The stage's recorded invocations on disk: one private JSON file per invocation under
``.relay/stages/<stage>/events/`` (folder 0700, files 0600), oldest dropped past a size cap.

File names sort by time (``<epoch µs>-<id>.json``; earlier relays wrote epoch ms) so the
oldest is first in a listing and an id is found without reading any file.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Default cap on the folder's total size; the oldest recordings go first.
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
#: One recording larger than this keeps its event and result out (and says so).
MAX_RECORD_BYTES = 2 * 1024 * 1024


class RecordNotFound(LookupError):
    """No recording matches the id; the message says how to list them."""


def events_dir(project: Path, stage: str) -> Path:
    return project / ".relay" / "stages" / stage / "events"


@dataclass(frozen=True)
class Entry:
    """A recording's file, known by name alone (no read)."""

    path: Path
    id: str
    at_ms: int
    size: int
    stamp: int = 0  # microseconds from the name; the listing's order


class EventStore:
    """Writes and finds recordings; safe to call from one writer thread and any readers."""

    def __init__(self, folder: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: list[Entry] | None = None  # oldest first, loaded on first write
        self._total = 0
        self._folder_ready = False
        self._folder_str = str(folder)
        self._last_stamp = 0  # the newest file name's microseconds

    # -- writing ------------------------------------------------------------------------

    def add(self, record: dict[str, Any]) -> Entry:
        """Write one recording (its ``id`` and ``at`` are filled in) and apply the cap."""
        return self.add_many([record])[0]

    def add_many(self, records: list[dict[str, Any]]) -> list[Entry]:
        """Write recordings in the order given, then apply the cap once.

        The recorder hands over whatever queued up while it was writing: one lock, one folder
        check and one pass of the cap per batch, not per invocation.
        """
        encoded = [_encode(record) for record in records]
        written: list[Entry] = []
        with self._lock:
            self._ensure_folder()
            entries = self._load_entries()  # before writing, so new files count once
            for record, data in encoded:
                # microseconds, kept increasing: a burst within one millisecond lists in
                # the order it was published (the name is the only order a listing reads)
                stamp = max(int(record["at"] * 1_000_000), self._last_stamp + 1)
                self._last_stamp = stamp
                name = f"{stamp:016d}-{record['id']}.json"
                try:
                    _write_private(f"{self._folder_str}/{name}", data)
                except FileNotFoundError:  # the folder was removed while relay ran
                    self._folder_ready = False
                    self._ensure_folder()
                    _write_private(f"{self._folder_str}/{name}", data)
                entry = Entry(self.folder / name, record["id"], stamp // 1000, len(data), stamp)
                entries.append(entry)
                written.append(entry)
                self._total += entry.size
            while self._total > self.max_bytes and len(entries) > 1:
                oldest = entries.pop(0)
                oldest.path.unlink(missing_ok=True)
                self._total -= oldest.size
        return written

    def _ensure_folder(self) -> None:
        """Once per store (and again if the folder vanished): 0700 whatever the umask."""
        if self._folder_ready:
            return
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.folder, 0o700)  # mkdir's mode is masked by umask and skips existing
        self._folder_ready = True

    def _load_entries(self) -> list[Entry]:
        if self._entries is None:
            self._entries = self.entries()
            self._total = sum(e.size for e in self._entries)
            if self._entries:
                self._last_stamp = max(self._last_stamp, self._entries[-1].stamp)
        return self._entries

    # -- reading ------------------------------------------------------------------------

    def entries(self) -> list[Entry]:
        """All recordings, oldest first."""
        found: list[Entry] = []
        if not self.folder.is_dir():
            return found
        for path in self.folder.glob("*-*.json"):
            stamp, _, rest = path.stem.partition("-")
            if not stamp.isdigit():
                continue
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            # 16 digits: microseconds; 13: milliseconds (recordings of earlier relays)
            micros = int(stamp) if len(stamp) > 13 else int(stamp) * 1000
            found.append(Entry(path, rest, micros // 1000, size, micros))
        found.sort(key=lambda e: (e.stamp, e.id))
        return found

    def load(self, entry: Entry) -> dict[str, Any]:
        return json.loads(entry.path.read_text())

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


def _encode(record: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """The record with ``id``/``at`` filled in and its compact JSON (json's C encoder serves
    only ``indent=None``); a recording too large keeps its event and result out."""
    if "id" not in record:
        record["id"] = new_id()
    record.setdefault("at", 0)
    data = json.dumps(record, ensure_ascii=False).encode()
    if len(data) > MAX_RECORD_BYTES:
        record = {**record, "event": None, "result": None, "truncated": len(data)}
        data = json.dumps(record, ensure_ascii=False).encode()
    return record, data


def _write_private(path: str, data: bytes) -> None:
    """Create with 0600 from the start (never briefly readable by others), then rename, so
    a reader sees a whole recording or none.

    ``O_EXCL`` makes the file new: its mode is 0600 less the umask, never more, so no chmod
    or stat per recording. A ``.tmp`` left by a crash is removed and created afresh.
    """
    tmp = path + ".tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        fd = os.open(tmp, flags, 0o600)
    except FileExistsError:
        os.unlink(tmp)
        fd = os.open(tmp, flags, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
