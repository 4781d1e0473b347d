"""Seeing saves (watchfiles) and making sure no worker can run the code from before them."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import signal
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import watchfiles

#: watchfiles' defaults (1.6 s debounce, 50 ms step) would cost ~100 ms per save. Its Rust
#: thread polls every STEP_MS and reports a batch one quiet step later: a save is seen in ~2-3 ms
#: at 1 ms, for ~2% of one core while idle (~1.2% at 2 ms, one more ms per save).
#: RELAY_WATCH_STEP_MS trades one for the other.
STEP_MS = max(1, int(os.environ.get("RELAY_WATCH_STEP_MS", "1") or 1))
DEBOUNCE_MS = STEP_MS
#: How long a batch waits for a file its writer still has open: a file the handler keeps open
#: (a log, a database in the code folder) must not hold reloads back for ever.
SETTLE_LIMIT_S = 2.0
_SETTLE_POLL_S = (0.0005, 0.02)  # first and longest pause between two looks


def being_written(path: str) -> bool:
    """Is some process holding ``path`` open for writing (a save still under way)?

    An in-place save (open with O_TRUNC, write, close: VS Code, `echo >`, Path.write_text) is
    reported by the truncation already; read then, the file is empty or half written. Linux
    refuses a read lease on a file open for writing, so asking for one (and dropping it at
    once) tells. Were the lease broken in between, its signal is SIGURG (ignored), not SIGIO
    (which would end relay). Anything else (no such file, not ours, no leases): False.
    """
    if not hasattr(fcntl, "F_SETLEASE"):
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.fcntl(fd, fcntl.F_SETSIG, signal.SIGURG)
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
    except OSError as exc:
        return exc.errno == errno.EAGAIN
    else:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
        return False
    finally:
        os.close(fd)


def cached_bytecode(pycache_prefix: str, source: str) -> Path:
    """Where a worker (``sys.pycache_prefix`` = prefix) keeps the bytecode of ``source``."""
    head, tail = os.path.split(os.path.abspath(source))
    stem = tail.rpartition(".")[0]
    return Path(pycache_prefix, head.lstrip(os.sep), f"{stem}.{sys.implementation.cache_tag}.pyc")


def drop_bytecode(pycache_prefix: str, sources: Iterable[str]) -> None:
    """Forget cached bytecode of changed sources (and of a whole changed folder)."""
    for source in sources:
        if source.endswith(".py"):
            for name in (cached_bytecode(pycache_prefix, source),):
                for variant in (name, *name.parent.glob(f"{name.stem}.opt-*.pyc")):
                    with contextlib.suppress(OSError):
                        variant.unlink()
        elif not os.path.isfile(source):
            # a folder moved or deleted: its modules' caches go with it
            folder = Path(pycache_prefix, os.path.abspath(source).lstrip(os.sep))
            for pyc in folder.rglob("*.pyc") if folder.is_dir() else ():
                with contextlib.suppress(OSError):
                    pyc.unlink()


#: Files still open for writing after a whole SETTLE_LIMIT_S wait (a log the handler keeps
#: open): not waited for again until they are seen closed, or every batch would wait.
_kept_open: set[str] = set()


def still_writing(paths: Iterable[str]) -> set[str]:
    """The files of ``paths`` a save is still writing (those known to be kept open aside)."""
    writing = set()
    for path in paths:
        if not being_written(path):
            _kept_open.discard(path)
        elif path not in _kept_open:
            writing.add(path)
    return writing


async def until_written(paths: Iterable[str]) -> None:
    """Return once no file of ``paths`` is open for writing, or SETTLE_LIMIT_S later.

    Polled: no event tells when a writer closes a file (inotify's IN_CLOSE_WRITE is not among
    what watchfiles reports). A save closes its file within microseconds to a few milliseconds,
    so the first look, half a millisecond on, usually finds it done. Nothing being written:
    returns without yielding to the event loop.
    """
    writing = still_writing(paths)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_LIMIT_S
    pause, longest = _SETTLE_POLL_S
    while writing and loop.time() < deadline:
        await asyncio.sleep(pause)
        pause = min(pause * 1.25, longest)
        writing = still_writing(writing)
    _kept_open.update(writing)


class SaveFilter(watchfiles.DefaultFilter):
    """The changes worth a reload: watchfiles' default filter (bytecode, VCS and tool folders,
    vim swap files, ``~`` backups, JetBrains' safe-write files) plus what editors and tools write
    beside a save without being code: hidden files and folders below a watched root (an editor's
    ``.app.py.tmp`` before its rename, emacs' ``.#`` locks, relay's own ``.relay/``), ``#...#``
    autosaves, vim's ``4913`` probe, ``*.tmp``/``*.bak``/``*.orig``/``*.rej``, and ``cdk.out``.

    A temporary file seen in a batch of its own (the write before the rename, descheduled on a
    loaded machine) would otherwise run the code from before the save: a run too many, showing
    the old result. Hidden means below the root only: an app living under ``~/.projects`` is
    watched normally.
    """

    ignore_dirs = (*watchfiles.DefaultFilter.ignore_dirs, "cdk.out")
    ignore_entity_patterns = (
        *watchfiles.DefaultFilter.ignore_entity_patterns,
        r"^#.*#$",
        r"^4913$",
        r"\.(tmp|temp|bak|orig|rej)$",
    )

    def __init__(self, roots: Iterable[str]) -> None:
        super().__init__()
        self._roots = tuple(sorted((os.path.join(r, "") for r in roots), key=len, reverse=True))

    def __call__(self, change: watchfiles.Change, path: str) -> bool:
        if not super().__call__(change, path):
            return False
        for root in self._roots:
            if path.startswith(root):
                return not any(part.startswith(".") for part in path[len(root) :].split(os.sep))
        return True


class CodeWatcher:
    """Watches a set of folders and reports each batch of changed paths once its files are
    written: a batch holding a file some process still has open for writing waits (up to
    SETTLE_LIMIT_S) until it is closed. watchfiles reports the truncation that starts an
    in-place save, never the close that ends it; acting on the half-written file would run
    the save twice (the torn content, then the whole one) or fail on the torn one.
    """

    def __init__(
        self,
        on_change: Callable[[set[str]], None],
        *,
        ignore: Callable[[str], bool] | None = None,
    ) -> None:
        self._on_change = on_change
        #: paths never worth a reload (files relay itself writes, e.g. its redirected stdout,
        #: which it also keeps open for writing: a batch must not wait for them)
        self._ignore = ignore
        #: the held batch's files still open for writing (diagnostics and tests)
        self.writing: set[str] = set()
        self._dirs: tuple[str, ...] = ()
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None

    def watch(self, dirs: Iterable[Path]) -> None:
        """(Re)start watching exactly these folders (missing ones are skipped)."""
        wanted = tuple(sorted({str(d) for d in dirs if d.is_dir()}))
        if wanted == self._dirs and self._task is not None and not self._task.done():
            return
        self._cancel()
        self._dirs = wanted
        if wanted:
            self._stop = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(wanted, self._stop))

    def _cancel(self) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._task is not None:
            self._task.cancel()
        self._task = None
        self._stop = None

    async def close(self) -> None:
        task = self._task
        self._cancel()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _run(self, dirs: tuple[str, ...], stop: asyncio.Event) -> None:
        async for changes in watchfiles.awatch(
            *dirs,
            watch_filter=SaveFilter(dirs),
            debounce=DEBOUNCE_MS,
            step=STEP_MS,
            stop_event=stop,
        ):
            paths = {path for _change, path in changes}
            if self._ignore is not None:
                paths = {path for path in paths if not self._ignore(path)}
            if paths:
                await self._settle(paths)
                self._on_change(paths)

    async def _settle(self, paths: set[str]) -> None:
        self.writing = still_writing(paths)
        if self.writing:
            try:
                await until_written(self.writing)
            finally:
                self.writing = set()
