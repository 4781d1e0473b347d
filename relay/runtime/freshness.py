"""Is the code a generation of workers has loaded still the code on disk?

The watcher sees a save 2-3 ms after it lands; an invocation in that window would run the old
code. So each worker reports every file of the function's code and layers it reads (with the
stat taken just before reading it, see worker_entry.LoadedFiles), and before a worker is handed
an invocation the pool stats those files again (on Linux only those the kernel's save events
name, relay/runtime/saves.py): any difference means "saved since".
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable

from relay.runtime.saves import SaveEvents

#: What identifies one version of a file without reading it: a rewrite changes ctime even when
#: mtime and size are put back, an atomic save (write + rename) changes the inode.
Signature = tuple[int, int, int, int]

#: A record's digest when the file is gone.
GONE = b"gone"


def signature(st: os.stat_result) -> Signature:
    return (st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns)


def parse_records(lines: Iterable[str | bytes]) -> list[tuple[str, Signature]]:
    """Decode the worker's ``[path, mtime_ns, size, ino, ctime_ns]`` lines; skip anything else
    (the handler could write to the pipe: a bad line must not break the worker)."""
    records = []
    for line in lines:
        try:
            path, mtime, size, ino, ctime = json.loads(line)
        except (ValueError, TypeError):
            continue
        if isinstance(path, str) and all(type(v) is int for v in (mtime, size, ino, ctime)):
            records.append((path, (mtime, size, ino, ctime)))
    return records


def digest(path: str) -> bytes:
    """The content of a file, to tell whether a watcher event is news (see LocalRuntime)."""
    try:
        with open(path, "rb") as f:
            return hashlib.blake2b(f.read(), digest_size=16).digest()
    except FileNotFoundError:
        return GONE
    except OSError:
        return os.urandom(16)  # unreadable (a folder, no permission): never "the same"


class LoadedFiles:
    """The files one generation of a function's workers has read, each with the signature it
    had when first read. A later worker of the same generation that read a newer version does
    not update it: the older worker still runs the older code.

    With ``events`` (Linux), the folders of those files are watched and only the files named
    by an event since are stat-ed; otherwise every file is, each time.
    """

    def __init__(self, events: SaveEvents | None = None) -> None:
        self._files: dict[str, Signature] = {}
        self._items: list[tuple[str, Signature]] | None = None
        self._source = events
        self._events = events.subscribe() if events is not None else None
        self._suspects: set[str] = set()  # saved since they were read, perhaps

    def __len__(self) -> int:
        return len(self._files)

    def paths(self) -> list[str]:
        return list(self._files)

    def add(self, records: Iterable[tuple[str, Signature]]) -> None:
        for path, sig in records:
            if path not in self._files:
                self._files[path] = sig
                self._items = None
                if self._events is not None:
                    self._watch(path, sig)

    def _watch(self, path: str, sig: Signature) -> None:
        assert self._events is not None
        if not self._events.watch(os.path.dirname(path)):
            self._stop_watching()  # e.g. the watch limit: every file is stat-ed from now on
            return
        # saved between the worker's read and the watch: no event will say so
        if _signature_of(path) != sig:
            self._suspects.add(path)

    def _watch_again(self) -> None:
        """After a lost queue or a folder gone: watch every folder again (a folder made anew
        needs a new watch), or stat every file from now on."""
        assert self._events is not None
        for folder in {os.path.dirname(path) for path in self._files}:
            if not self._events.watch(folder):
                self._stop_watching()
                return

    def _stop_watching(self) -> None:
        if self._events is not None:
            self._events.close()
            self._events = None

    def clear(self) -> None:
        """A new generation: nothing loaded yet (a generation that fell back to stat-ing
        tries the save events again)."""
        self._files.clear()
        self._items = None
        self._suspects.clear()
        if self._events is None and self._source is not None:
            self._events = self._source.subscribe()

    def close(self) -> None:
        self._source = None
        self._stop_watching()

    def changed(self) -> list[str]:
        """The files whose signature on disk is no longer the one loaded (gone ones too)."""
        if self._events is None:
            if self._items is None:
                self._items = list(self._files.items())
            return _differing(self._items)
        paths, everything = self._events.take()
        files = self._files
        if everything:
            self._suspects.update(files)
            self._watch_again()
        elif paths:
            self._suspects.update(p for p in paths if p in files)
        if not self._suspects:
            return []
        changed = _differing([(p, files[p]) for p in self._suspects if p in files])
        self._suspects = set(changed)  # the others were saved back as they were, or touched
        return changed


def _signature_of(path: str) -> Signature | None:
    try:
        return signature(os.stat(path))
    except OSError:
        return None


def _differing(items: list[tuple[str, Signature]]) -> list[str]:
    changed = []
    stat = os.stat
    for path, sig in items:
        try:
            st = stat(path)
        except OSError:
            changed.append(path)
            continue
        if (st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns) != sig:
            changed.append(path)
    return changed
