"""`relay run --watch`: save → result on stdout, and how many runs each save caused.

    .venv/bin/python bench/bench_watch.py [--edits 50] [--pause 0.3] [--slow-save-ms 0]

The baseline measured in the same run is the runtime's own save → new code figure
(`LocalRuntime` with the watcher, the next invocation after a save), which is what
`relay run --watch` adds its printing to; its breakdown shows where a save's time goes.
Saves are ``--pause`` apart (0.3 s: three saves a second, as in bench/peers.py; ``--pause 0``
saves again as soon as the result is in, before the spare used by the last save is replaced).
``--slow-save-ms N`` keeps each save's file open N ms between its two halves (an in-place
save whose writer is descheduled): each must still give exactly one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from relay.runtime import FunctionConfig, LocalRuntime  # noqa: E402
from relay.runtime import runtime as runtime_module  # noqa: E402
from relay.runtime.worker import Worker  # noqa: E402

SOURCE = "def handler(event, context):\n    return 'v{:04d}'\n"


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def save(app: Path, edit: int, slow_ms: float) -> None:
    """An in-place save (open with O_TRUNC, write, close), as editors and write_text do."""
    text = SOURCE.format(edit)
    if not slow_ms:
        app.write_text(text)
        return
    with app.open("w") as f:
        f.write(text[:20])
        f.flush()
        time.sleep(slow_ms / 1000)
        f.write(text[20:])


def watch_ms(code: Path, edits: int, pause: float, slow_ms: float) -> tuple[list[float], int]:
    """Save (same size, often within one second), read stdout until the new result."""
    app = code / "app.py"
    app.write_text(SOURCE.format(0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "relay", "run", "app.handler", "--watch"],
        cwd=code, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    try:
        assert proc.stdout.readline() == b'"v0000"\n'
        while b"relay: watching" not in proc.stderr.readline():
            pass
        # the log lines (START/END/REPORT) must not fill the pipe and stall relay
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        selector = selectors.DefaultSelector()
        selector.register(proc.stdout, selectors.EVENT_READ)
        samples, extra = [], 0
        for edit in range(1, edits + 1):
            time.sleep(pause)
            saved = time.perf_counter()
            save(app, edit, slow_ms)
            while (line := proc.stdout.readline()) != f'"v{edit:04d}"\n'.encode():
                extra += 1  # a run for an earlier save (or a second run for one save)
                assert line, "relay run --watch stopped"
            samples.append((time.perf_counter() - saved) * 1000)
        # anything printed after the last save within 0.5 s is a second run for it
        while selector.select(0.5):
            if not proc.stdout.readline():
                break
            extra += 1
        return samples, extra
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(30)


#: Where a save's time goes inside the runtime (first occurrence after the save).
STEPS = (
    ("watcher batch", "batch"),
    ("content is news: reload", "renewed"),
    ("spare taken + assigned", "assigned"),
    ("handler module imported", "imported"),
    ("invocation delivered", "delivered"),
    ("result in", "result"),
)


@contextmanager
def timeline() -> Iterator[dict[str, float]]:
    """Time stamps of one save's steps, taken by wrapping the runtime's methods (bench only)."""
    marks: dict[str, float] = {}
    saved: list[tuple[Any, str, Any]] = []

    def wrap(owner: Any, name: str, key: str, when: Any = None) -> None:
        original = getattr(owner, name)

        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            if when is None or when(self):
                marks.setdefault(key, time.perf_counter())
            return original(self, *args, **kwargs)

        saved.append((owner, name, original))
        setattr(owner, name, wrapper)

    wrap(runtime_module.LocalRuntime, "_on_change", "batch")
    wrap(runtime_module.LocalRuntime, "_reload", "renewed")
    wrap(Worker, "on_next", "imported", lambda w: w.warm.done() and not w.initialized.is_set())
    wrap(Worker, "_deliver", "delivered")
    original_new = runtime_module.LocalRuntime._new_worker

    async def new_worker(self: Any, config: Any, generation: int) -> Worker:
        marks.setdefault("spare warm", float(bool(self._spares) and self._spares[0].warm.done()))
        worker = await original_new(self, config, generation)
        marks.setdefault("assigned", time.perf_counter())
        return worker

    runtime_module.LocalRuntime._new_worker = new_worker  # type: ignore[method-assign]
    try:
        yield marks
    finally:
        runtime_module.LocalRuntime._new_worker = original_new  # type: ignore[method-assign]
        for owner, name, original in saved:
            setattr(owner, name, original)


async def runtime_ms(
    code: Path, edits: int, pause: float, slow_ms: float
) -> tuple[list[float], dict[str, list[float]], int]:
    app = code / "app.py"
    app.write_text(SOURCE.format(0))
    steps: dict[str, list[float]] = {key: [] for _, key in STEPS}
    with timeline() as marks:
        async with LocalRuntime(watch=True, spares=1) as runtime:
            runtime.configure(FunctionConfig(name="f", handler="app.handler", code_dir=code))
            await runtime.invoke("f", b"{}")
            samples, warm = [], 0
            for edit in range(1, edits + 1):
                await asyncio.sleep(pause)
                seen = runtime.reloads["f"]
                marks.clear()
                saved = time.perf_counter()
                if slow_ms:  # in a thread: the event loop must see the save while it is written
                    await asyncio.to_thread(save, app, edit, slow_ms)
                else:
                    save(app, edit, slow_ms)
                await runtime.wait_reload("f", seen)
                result = await runtime.invoke("f", b"{}")
                marks.setdefault("result", time.perf_counter())
                assert result.payload == f'"v{edit:04d}"'.encode(), result.payload
                samples.append((time.perf_counter() - saved) * 1000)
                warm += int(marks.get("spare warm", 0))
                for key, values in steps.items():
                    if key in marks:
                        values.append((marks[key] - saved) * 1000)
        return samples, steps, warm


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--edits", type=int, default=50)
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between saves")
    parser.add_argument("--slow-save-ms", type=float, default=0.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        base, steps, warm = asyncio.run(
            runtime_ms(Path(a), args.edits, args.pause, args.slow_save_ms)
        )
        watch, extra = watch_ms(Path(b), args.edits, args.pause, args.slow_save_ms)
    print(
        f"load average {os.getloadavg()[0]:.1f}; {args.edits} edits each, {args.pause} s apart"
        + (f", each save open {args.slow_save_ms} ms" if args.slow_save_ms else "")
    )
    for label, samples in (("runtime: save -> new code", base), ("relay run --watch", watch)):
        print(
            f"{label:<28} p50 {statistics.median(samples):6.1f} ms  p99 {pct(samples, 0.99):6.1f}"
            f" ms  ({statistics.median(samples) / statistics.median(base):.2f}x runtime p50)"
        )
    print(f"relay run --watch: runs beyond one per save: {extra}")
    print(
        f"runtime breakdown, ms after the save (p50 of each step; the spare had imported"
        f" awslambdaric before {warm} of {args.edits} saves):"
    )
    for label, key in STEPS:
        values = steps[key]
        if values:
            print(f"  {label:<26} {statistics.median(values):6.1f}  (n={len(values)})")


if __name__ == "__main__":
    main()
