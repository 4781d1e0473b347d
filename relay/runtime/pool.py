"""The execution environments of one function: reuse, scale-out to a limit, queueing, retiring."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable

from relay.runtime.config import FunctionConfig
from relay.runtime.freshness import LoadedFiles, Signature
from relay.runtime.reload import until_written
from relay.runtime.saves import SaveEvents
from relay.runtime.worker import State, Worker

#: Supplies a worker process that has been assigned ``config`` at ``generation``.
WorkerFactory = Callable[[FunctionConfig, int], Awaitable[Worker]]
#: Told which loaded files changed on disk; expected to renew the pool (as a watcher event).
StaleCallback = Callable[[list[str]], None]


class FunctionPool:
    """Hands out one worker per invocation; a code generation change retires old workers."""

    def __init__(
        self,
        config: FunctionConfig,
        *,
        max_workers: int,
        factory: WorkerFactory,
        on_stale: StaleCallback | None = None,
    ) -> None:
        self.config = config
        self.generation = 0
        self.max_workers = max_workers
        self._factory = factory
        self._workers: list[Worker] = []
        self._leased: set[Worker] = set()
        self._waiters: deque[asyncio.Future[Worker]] = deque()
        self._starting = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._on_stale = on_stale
        #: the files the current generation's workers have read (checked on every acquire)
        self.loaded = LoadedFiles(SaveEvents.shared())

    # public -----------------------------------------------------------------------
    @property
    def workers(self) -> list[Worker]:
        return list(self._workers)

    async def acquire(self) -> Worker:
        """A worker of the current generation for one invocation; waits at the limit.

        With ``on_stale``, the files this generation has read are stat'ed first: a save the
        watcher has not reported yet renews the pool, and this invocation gets the new code
        (once the save is written: a worker must not import a half-written file).
        """
        if self._on_stale is not None and self.stale_files():
            await until_written(self.stale_files())
            self.check_saved()  # another caller may have renewed while this one waited
        if not self._waiters:  # the warm path: an idle environment, nobody queued before us
            for worker in self._workers:
                if (
                    worker.ready
                    and worker.generation == self.generation
                    and worker.alive
                    and worker not in self._leased
                ):
                    self._leased.add(worker)
                    return worker
        waiter: asyncio.Future[Worker] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._dispatch()
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release(waiter.result())
            raise

    def stale_files(self) -> list[str]:
        """The files the current generation read that have changed on disk since."""
        for worker in self._workers:  # those still importing report as they go
            if not worker.initialized.is_set() and worker.generation == self.generation:
                worker.read_loaded()
        return self.loaded.changed()

    def check_saved(self) -> list[str]:
        """Renew (through ``on_stale``) if a file the current generation read has changed."""
        changed = self.stale_files()
        if changed and self._on_stale is not None:
            self._on_stale(changed)
        return changed

    def release(self, worker: Worker) -> None:
        self._leased.discard(worker)
        if worker.generation != self.generation and worker.state is not State.BUSY:
            worker.kill("stale")
        self._dispatch()

    def renew(self, config: FunctionConfig | None = None, *, prime: bool) -> None:
        """New code or configuration: idle workers retire now, busy ones after their invocation."""
        had_workers = bool(self._workers)
        if config is not None:
            self.config = config
        self.generation += 1
        self.loaded.clear()
        for worker in list(self._workers):
            if worker not in self._leased and worker.state is not State.BUSY:
                worker.kill("stale")
        if prime and had_workers and not self._closed:
            self._start_worker()

    async def close(self) -> None:
        self._closed = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(RuntimeError("relay's local runtime is shutting down"))
        self._waiters.clear()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        await asyncio.gather(*(w.close() for w in list(self._workers)), return_exceptions=True)
        self._workers.clear()
        self.loaded.close()

    # internals --------------------------------------------------------------------
    def _current(self) -> list[Worker]:
        return [w for w in self._workers if w.generation == self.generation and w.alive]

    def _pick(self) -> Worker | None:
        best: Worker | None = None
        for worker in self._current():
            if worker in self._leased:
                continue
            if worker.ready:
                return worker
            if worker.state in (State.INIT, State.IDLE) and best is None:
                best = worker
        return best

    def _dispatch(self) -> None:
        while self._waiters and self._waiters[0].done():
            self._waiters.popleft()
        if not self._waiters:
            return
        while self._waiters:
            worker = self._pick()
            if worker is None:
                break
            waiter = self._waiters.popleft()
            if waiter.done():
                continue
            self._leased.add(worker)
            waiter.set_result(worker)
        pending = sum(1 for w in self._waiters if not w.done())
        unassigned = sum(
            1
            for w in self._current()
            if w not in self._leased and w.state in (State.INIT, State.IDLE)
        )
        needed = pending - self._starting - unassigned
        while needed > 0 and len(self._current()) + self._starting < self.max_workers:
            self._start_worker()
            needed -= 1

    def _start_worker(self) -> None:
        self._starting += 1
        task = asyncio.get_running_loop().create_task(self._add_worker())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _add_worker(self) -> None:
        try:
            worker = await self._factory(self.config, self.generation)
        except Exception as exc:  # spawning failed: tell the first caller why
            self._starting -= 1
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
                    break
            return
        except BaseException:
            self._starting -= 1
            raise
        self._starting -= 1
        if self._closed:
            await worker.close()
            return
        worker.on_state = self._on_worker_state
        worker.on_loaded = self._on_worker_loaded
        self._on_worker_loaded(worker, worker.loaded)
        self._workers.append(worker)
        self._dispatch()

    def _on_worker_loaded(self, worker: Worker, records: list[tuple[str, Signature]]) -> None:
        if worker.generation == self.generation:
            self.loaded.add(records)

    def _on_worker_state(self, worker: Worker) -> None:
        if worker.state is State.DEAD:
            with contextlib.suppress(ValueError):
                self._workers.remove(worker)
            self._leased.discard(worker)
        elif (
            worker.generation != self.generation
            and worker not in self._leased
            and worker.state is not State.BUSY
        ):
            worker.kill("stale")
        if not self._closed:
            self._dispatch()
