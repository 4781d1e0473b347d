"""The stage's recorded invocations on disk: one private JSON file per invocation under
``.relay/stages/<stage>/events/`` (folder 0700, files 0600), oldest dropped past a size cap.

File names sort by time (``<epoch ms>-<id>.json``) so the oldest is first in a listing and
an id is found without reading any file.
"""

from __future__ import annotations

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


class EventStore:
    """Writes and finds recordings; safe to call from one writer thread and any readers."""

    def __init__(self, folder: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: list[Entry] | None = None  # oldest first, loaded on first write
        self._total = 0
        self._folder_ready = False

    # -- writing ------------------------------------------------------------------------

    def add(self, record: dict[str, Any]) -> Entry:
        """Write one recording (its ``id`` and ``at`` are filled in) and apply the cap."""
        record.setdefault("id", new_id())
        at_ms = int(record.setdefault("at", 0) * 1000)
        # Compact: json's C encoder serves only indent=None (indent=1 ran the pure-Python one).
        data = json.dumps(record, ensure_ascii=False).encode()
        if len(data) > MAX_RECORD_BYTES:
            record = {**record, "event": None, "result": None, "truncated": len(data)}
            data = json.dumps(record, ensure_ascii=False).encode()
        with self._lock:
            self._ensure_folder()
            entries = self._load_entries()  # before writing, so the new file counts once
            path = self.folder / f"{at_ms:013d}-{record['id']}.json"
            _write_private(path, data)
            entry = Entry(path, record["id"], at_ms, len(data))
            entries.append(entry)
            self._total += entry.size
            while self._total > self.max_bytes and len(entries) > 1:
                oldest = entries.pop(0)
                oldest.path.unlink(missing_ok=True)
                self._total -= oldest.size
        return entry

    def _ensure_folder(self) -> None:
        if self._folder_ready and self.folder.is_dir():
            return
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.folder, 0o700)  # mkdir's mode is masked by umask and skips existing
        self._folder_ready = True

    def _load_entries(self) -> list[Entry]:
        if self._entries is None:
            self._entries = self.entries()
            self._total = sum(e.size for e in self._entries)
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
            found.append(Entry(path, rest, int(stamp), size))
        found.sort(key=lambda e: (e.at_ms, e.id))
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


def _write_private(path: Path, data: bytes) -> None:
    """Create with 0600 from the start (never briefly world-readable), then rename."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        # O_CREAT's 0600 can only lose bits to the umask; a leftover .tmp from a crash may
        # carry other bits, so it is fixed here only when it is not already private.
        if os.stat(tmp).st_mode & 0o077:
            os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
