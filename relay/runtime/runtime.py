"""LocalRuntime: the Lambda service of one laptop — functions, spares, reload, invoke."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any

from relay.runtime.config import FunctionConfig, code_paths, lambda_environment
from relay.runtime.envs import EnvBuilder, EnvError, FunctionEnv, own_env
from relay.runtime.freshness import digest
from relay.runtime.invocation import Invocation, InvocationResult
from relay.runtime.pool import FunctionPool
from relay.runtime.reload import CodeWatcher, drop_bytecode
from relay.runtime.worker import State, Worker

LogCallback = Callable[[str, str, str], None]
logger = logging.getLogger(__name__)


class FunctionNotFound(KeyError):
    """Invoking a name that was never configured."""

    def __str__(self) -> str:
        return str(self.args[0])


def _log_stream() -> str:
    return time.strftime("%Y/%m/%d/[$LATEST]", time.gmtime()) + uuid.uuid4().hex


class LocalRuntime:
    """Runs Lambda functions in local execution environments, as Lambda would.

    One worker process serves one invocation at a time; up to ``max_workers`` per function run
    concurrently and further invocations queue. ``spares`` processes with awslambdaric already
    imported are kept ready so that a new environment costs only the handler's import.
    With ``watch``, a save in a function's code or layer folder retires its environments and
    primes a new one. With ``check_saves`` (default: as ``watch``), each invocation first stats
    the files its function's current environments have read, so that one arriving before the
    watcher has seen a save (2-3 ms) runs the new code too.
    """

    def __init__(
        self,
        *,
        max_workers: int = 8,
        spares: int = 1,
        watch: bool = True,
        on_log: LogCallback | None = None,
        debug: Any = None,
        pycache_dir: Path | None = None,
        check_saves: bool | None = None,
        envs: EnvBuilder | None = None,
        ignore: Callable[[str], bool] | None = None,
    ) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.max_workers = max_workers
        self.spares = max(0, spares)
        self.watch = watch
        self.check_saves = watch if check_saves is None else check_saves
        self.on_log = on_log
        self.debug = debug
        #: builds each function's own environment; None: every function runs in relay's
        self.envs = envs
        #: paths whose change is never a reason to reload (files relay itself writes)
        self.ignore = ignore
        self._pools: dict[str, FunctionPool] = {}
        self._spares: list[Worker] = []
        self._spawning = 0
        self._spares_failing = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._watcher: CodeWatcher | None = None
        self._own_pycache: tempfile.TemporaryDirectory[str] | None = None
        self._pycache = str(pycache_dir) if pycache_dir is not None else ""
        self._started = False
        self._closed = False
        #: bumped on every reload, per function (tests and benchmarks await it)
        self.reloads: dict[str, int] = {}
        self._reload_event: asyncio.Event | None = None
        #: content digests of the files whose change was already acted on (by the dispatch
        #: check or the watcher): a later event with the same content must not reload again
        self._handled: dict[str, bytes] = {}

    # lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        if not self._pycache:
            self._own_pycache = tempfile.TemporaryDirectory(prefix="relay-pycache-")
            self._pycache = self._own_pycache.name
        self._reload_event = asyncio.Event()
        if self.watch:
            self._watcher = CodeWatcher(self._on_change, ignore=self.ignore)
            self._watch_dirs()
        self._top_up_spares()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._watcher is not None:
            await self._watcher.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        await asyncio.gather(*(pool.close() for pool in self._pools.values()))
        await asyncio.gather(*(w.close() for w in self._spares), return_exceptions=True)
        self._spares.clear()
        if self._own_pycache is not None:
            self._own_pycache.cleanup()

    async def __aenter__(self) -> LocalRuntime:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # functions --------------------------------------------------------------------
    def configure(self, config: FunctionConfig) -> None:
        """Add or replace a function; a changed config retires its old environments."""
        if self._closed:
            raise RuntimeError("this LocalRuntime is closed")
        pool = self._pools.get(config.name)
        if pool is None:
            self._pools[config.name] = FunctionPool(
                config,
                max_workers=self.max_workers,
                factory=self._new_worker,
                on_stale=self._on_stale if self.check_saves else None,
            )
            self.reloads.setdefault(config.name, 0)
        elif not pool.config.same_as(config):
            pool.renew(config, prime=self._started and self.spares > 0)
        if self._started:
            self._watch_dirs()

    def functions(self) -> dict[str, FunctionConfig]:
        return {name: pool.config for name, pool in self._pools.items()}

    def workers(self, function: str) -> list[Worker]:
        """The live environments of a function (for tests and diagnostics)."""
        return self._pool(function).workers

    def saves_in_progress(self) -> set[str]:
        """Changed files the watcher holds back while their writer has them open (diagnostics)."""
        return set(self._watcher.writing) if self._watcher is not None else set()

    def checked_files(self, function: str) -> list[str]:
        """The files the dispatch check stats before each invocation (diagnostics, benchmarks)."""
        return self._pool(function).loaded.paths()

    async def invoke(
        self,
        function: str,
        payload: bytes,
        *,
        request_id: str | None = None,
        deadline_ms: int | None = None,
        client_context: str | None = None,
        cognito_identity: str | None = None,
        trace_id: str | None = None,
        invoked_function_arn: str | None = None,
    ) -> InvocationResult:
        """Run one invocation; errors of any kind come back as Lambda's error payloads."""
        if not self._started:
            await self.start()
        pool = self._pool(function)
        inv = Invocation(
            request_id=request_id or str(uuid.uuid4()),
            payload=payload,
            deadline_ms=deadline_ms,
            client_context=client_context,
            cognito_identity=cognito_identity,
            trace_id=trace_id,
            invoked_function_arn=invoked_function_arn,
        )
        while True:
            worker = await pool.acquire()
            if worker.alive and worker.state in (State.INIT, State.IDLE):
                break
            pool.release(worker)  # died between hand-out and use: take another
        try:
            return await worker.start(inv)
        finally:
            pool.release(worker)

    async def wait_reload(
        self,
        function: str,
        after: int,
        timeout: float | None = 10.0,  # noqa: ASYNC109 (documented; None: no deadline)
    ) -> int:
        """Wait until ``function`` has reloaded more than ``after`` times; returns the count."""
        assert self._reload_event is not None, "start() the runtime first"
        async with asyncio.timeout(timeout):
            while self.reloads.get(function, 0) <= after:
                await self._reload_event.wait()
        return self.reloads[function]

    async def wait_spares(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until the spare processes have started and imported the runtime client."""
        async with asyncio.timeout(timeout):
            while not self._spares_failing and (
                len(self._spares) < self.spares or not all(w.warm.done() for w in self._spares)
            ):
                await asyncio.gather(*(w.warm for w in self._spares), return_exceptions=True)
                await asyncio.sleep(0.005)  # spares still spawning register shortly

    # internals --------------------------------------------------------------------
    def _pool(self, function: str) -> FunctionPool:
        try:
            return self._pools[function]
        except KeyError:
            known = ", ".join(sorted(self._pools)) or "none"
            raise FunctionNotFound(
                f"no function named {function!r} is configured in relay's local runtime "
                f"(configured: {known})"
            ) from None

    async def prepare(self, configs: list[FunctionConfig]) -> list[EnvError]:
        """Build (or find cached) the environments of these functions before the first call.

        Returns the failures (one per function that cannot run yet); the others are ready.
        """
        failures: list[EnvError] = []
        if self.envs is not None:
            for config in configs:
                try:
                    await asyncio.to_thread(self.envs.env_for, config)
                except EnvError as exc:
                    failures.append(exc)
        return failures

    async def _env(self, config: FunctionConfig) -> FunctionEnv:
        if self.envs is None:
            return own_env()
        return await asyncio.to_thread(self.envs.env_for, config)

    async def _new_worker(self, config: FunctionConfig, generation: int) -> Worker:
        env_of = await self._env(config)
        if env_of.own:
            fresh = not self._spares
            worker = self._spares.pop(0) if self._spares else await Worker.spawn(self._spawn_env())
        else:  # its own interpreter and packages: no spare of relay's can serve it
            fresh = True
            worker = await Worker.spawn(
                self._spawn_env(), python=env_of.python, site_paths=list(env_of.site_paths)
            )
        worker.on_state = None
        worker.enforce_timeouts = self.debug is None
        worker.on_log = self.on_log
        env = lambda_environment(
            config,
            runtime_api=f"127.0.0.1:{worker.port}",
            log_stream=_log_stream(),
            debug=self.debug is not None,
            python_tag=env_of.tag,
            site_paths=list(env_of.site_paths),
        )
        sys_path = [*code_paths(config, env_of.tag), *env_of.stdlib, *env_of.site_paths]
        worker.assign(
            config,
            generation,
            env=env,
            sys_path=sys_path,
            pycache_prefix=self._pycache,
            fresh=fresh,
        )
        self._spawn_task(self._top_up_after(worker))
        return worker

    async def _top_up_after(self, worker: Worker) -> None:
        """Replace the spare once this worker's init (and the invocation waiting for it, if
        any) is over: starting a Python process costs ~50 ms of CPU, which would otherwise slow
        the very start it is meant to speed up."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await worker.initialized.wait()
                if worker.state is State.BUSY:
                    await worker.served_one.wait()
        self._top_up_spares()

    def _spawn_task(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _spawn_env(self) -> dict[str, str]:
        """debugpy follows workers into their start-up; its settings must be there already."""
        if self.debug is None:
            return {}
        return {k: v for k, v in os.environ.items() if k.startswith("PYDEVD_")}

    def _top_up_spares(self) -> None:
        if self._closed or self._spares_failing:
            return
        while len(self._spares) + self._spawning < self.spares:
            self._spawning += 1
            self._spawn_task(self._spawn_spare())

    async def _spawn_spare(self) -> None:
        try:
            worker = await Worker.spawn(self._spawn_env())
        finally:
            self._spawning -= 1
        if self._closed:
            await worker.close()
            return
        worker.on_state = self._on_spare_state
        self._spares.append(worker)

    def _on_spare_state(self, worker: Worker) -> None:
        if self._closed:
            return
        if worker.state is State.DEAD and worker in self._spares:
            self._spares.remove(worker)
            if worker.warm.done() and worker.warm.exception() is None:
                self._top_up_spares()
            elif not self._spares_failing:
                # it could not even start: respawning in a loop would only burn the CPU;
                # invocations start their own worker and show its output as the error
                self._spares_failing = True
                logger.warning(
                    "relay: a spare worker exited while starting (code %s); spares are off",
                    worker.exited.result() if worker.exited.done() else "?",
                )

    def _watch_dirs(self) -> None:
        if self._watcher is not None:
            dirs = {d for pool in self._pools.values() for d in pool.config.watched_dirs}
            self._watcher.watch(dirs)

    def _on_change(self, paths: set[str]) -> None:
        """A batch from the watcher: reload for the files whose content is news.

        A file whose content is the one already reloaded for (by the dispatch check, or by an
        earlier batch of the same save: editors' write + chmod + rename, a touch) reloads
        nothing, so `relay run --watch` runs once per save without waiting for quiet.
        """
        news = set()
        for path in paths:
            now = digest(path)
            if self._handled.get(path) != now:
                news.add(path)
                self._handled[path] = now
        if news:
            self._reload(news)

    def _on_stale(self, paths: list[str]) -> None:
        """The dispatch check found files changed since a generation read them."""
        for path in paths:
            self._handled[path] = digest(path)
        self._reload(set(paths))

    def _reload(self, paths: set[str]) -> None:
        drop_bytecode(self._pycache, paths)
        for name, pool in self._pools.items():
            roots = [str(d) for d in pool.config.watched_dirs]
            if any(p == r or p.startswith(r + os.sep) for p in paths for r in roots):
                pool.renew(prime=self.spares > 0)
                self.reloads[name] = self.reloads.get(name, 0) + 1
        if self._reload_event is not None:
            self._reload_event.set()
            self._reload_event = asyncio.Event()
