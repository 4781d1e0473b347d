"""Seeing saves (watchfiles) and making sure no worker can run the code from before them."""

from __future__ import annotations

import asyncio
import contextlib
import os
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


class CodeWatcher:
    """Watches a set of folders and reports each batch of changed paths."""

    def __init__(self, on_change: Callable[[set[str]], None]) -> None:
        self._on_change = on_change
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
            *dirs, debounce=DEBOUNCE_MS, step=STEP_MS, stop_event=stop
        ):
            self._on_change({path for _change, path in changes})
