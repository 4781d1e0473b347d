"""Saves to the folders of a function's code, as the kernel queues them (Linux inotify).

Before an invocation is handed to a worker, the pool must know whether a file the worker's
generation loaded was saved since (relay/runtime/freshness.py). Stat-ing every loaded file
costs ~2.5 µs a file per invocation: 0.25 ms for a handler that imports 100 files of its own.
The kernel queues an inotify event before the saving write returns, so one read of that queue
(empty: one ioctl) tells the same thing exactly; only files named by an event are stat-ed.
Elsewhere (macOS, Windows, no inotify left) ``SaveEvents.shared()`` is None and the pool
stats every file, as before. The watcher that reloads (watchfiles) is unchanged.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Any

#: What a save, an atomic save (write + rename), a delete or an editor's backup dance does to
#: a folder's entries; plus the folder itself going away.
_MASK = (
    0x002  # MODIFY
    | 0x004  # ATTRIB
    | 0x008  # CLOSE_WRITE
    | 0x040  # MOVED_FROM
    | 0x080  # MOVED_TO
    | 0x100  # CREATE
    | 0x200  # DELETE
    | 0x400  # DELETE_SELF
    | 0x800  # MOVE_SELF
)
_Q_OVERFLOW = 0x4000
_IGNORED = 0x8000


class Subscription:
    """One reader's share of the events: the paths named since it last took them."""

    def __init__(self, owner: SaveEvents) -> None:
        self._owner = owner
        self.paths: set[str] = set()
        self.everything = False  # events were lost, or a watched folder went away

    def watch(self, folder: str) -> bool:
        """Queue events for ``folder``'s entries; False if the kernel refused."""
        return self._owner.watch(folder)

    def take(self) -> tuple[set[str], bool]:
        """(paths saved, moved or deleted since the last call; whether anything may have)."""
        self._owner.drain()
        paths, everything = self.paths, self.everything
        if paths or everything:
            self.paths, self.everything = set(), False
        return paths, everything

    def close(self) -> None:
        self._owner.unsubscribe(self)


class SaveEvents:
    """One inotify instance for the process (the kernel allows a user 128 by default)."""

    _shared: SaveEvents | None = None
    _tried = False
    _lock = threading.Lock()

    def __init__(self, inotify: Any) -> None:
        self._inotify = inotify
        self._folders: dict[int, str] = {}  # watch descriptor -> folder
        self._watched: set[str] = set()
        self._subscribers: list[Subscription] = []
        self._io = threading.Lock()

    @classmethod
    def shared(cls) -> SaveEvents | None:
        """The process's instance, or None where inotify is not available."""
        with cls._lock:
            if not cls._tried:
                cls._tried = True
                cls._shared = cls._open()
            return cls._shared

    @staticmethod
    def _open() -> SaveEvents | None:
        if not sys.platform.startswith("linux") or os.environ.get("RELAY_NO_INOTIFY"):
            return None
        try:
            from inotify_simple import INotify

            return SaveEvents(INotify(nonblocking=True))
        except (ImportError, OSError, AttributeError):
            return None

    def subscribe(self) -> Subscription:
        subscription = Subscription(self)
        with self._io:
            self._subscribers.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._io:
            if subscription in self._subscribers:
                self._subscribers.remove(subscription)

    def watch(self, folder: str) -> bool:
        with self._io:
            # a folder removed and made again must get a new watch, not the old one's name
            self._drain()
            if folder in self._watched:
                return True
            try:
                wd = self._inotify.add_watch(folder, _MASK)
            except OSError:  # gone, unreadable, or the user's watch limit reached
                return False
            self._folders[wd] = folder
            self._watched.add(folder)
            return True

    def _forget(self, wd: int, folder: str, *, remove: bool) -> None:
        """Stop watching a folder that moved or went (a new one of that name gets a new
        watch; a moved one's watch would follow it elsewhere)."""
        del self._folders[wd]
        self._watched.discard(folder)
        if remove:
            with contextlib.suppress(OSError):  # already dropped by the kernel
                self._inotify.rm_watch(wd)

    def drain(self) -> None:
        """Hand every queued event to every subscriber (an empty queue costs one ioctl)."""
        with self._io:
            self._drain()

    def _drain(self) -> None:
        try:
            events = self._inotify.read(timeout=0)
        except (BlockingIOError, InterruptedError):
            return
        if not events:
            return
        paths: set[str] = set()
        everything = False
        for wd, mask, _, name in events:
            folder = self._folders.get(wd)
            if mask & _Q_OVERFLOW:
                everything = True
            elif folder is None:  # a watch already forgotten (its IN_IGNORED)
                continue
            elif name:
                paths.add(os.path.join(folder, name))
            else:  # the folder itself was deleted or moved: its files are elsewhere now
                everything = True
                self._forget(wd, folder, remove=not mask & _IGNORED)
        for subscription in self._subscribers:
            subscription.paths |= paths
            subscription.everything = subscription.everything or everything
