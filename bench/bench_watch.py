"""`relay run --watch`: save → result on stdout, and how many runs each save caused.

    .venv/bin/python bench/bench_watch.py [--edits 50]

The baseline measured in the same run is the runtime's own save → new code figure
(`LocalRuntime` with the watcher, the next invocation after a save), which is what
`relay run --watch` adds its printing to.
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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from relay.runtime import FunctionConfig, LocalRuntime  # noqa: E402

SOURCE = "def handler(event, context):\n    return 'v{:04d}'\n"


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def watch_ms(code: Path, edits: int) -> tuple[list[float], int]:
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
        selector = selectors.DefaultSelector()
        selector.register(proc.stdout, selectors.EVENT_READ)
        samples, extra = [], 0
        for edit in range(1, edits + 1):
            saved = time.perf_counter()
            app.write_text(SOURCE.format(edit))
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


async def runtime_ms(code: Path, edits: int) -> list[float]:
    app = code / "app.py"
    app.write_text(SOURCE.format(0))
    async with LocalRuntime(watch=True, spares=1) as runtime:
        runtime.configure(FunctionConfig(name="f", handler="app.handler", code_dir=code))
        await runtime.invoke("f", b"{}")
        samples = []
        for edit in range(1, edits + 1):
            seen = runtime.reloads["f"]
            saved = time.perf_counter()
            app.write_text(SOURCE.format(edit))
            await runtime.wait_reload("f", seen)
            result = await runtime.invoke("f", b"{}")
            assert result.payload == f'"v{edit:04d}"'.encode(), result.payload
            samples.append((time.perf_counter() - saved) * 1000)
        return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--edits", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        base = asyncio.run(runtime_ms(Path(a), args.edits))
        watch, extra = watch_ms(Path(b), args.edits)
    print(f"load average {os.getloadavg()[0]:.1f}; {args.edits} edits each")
    for label, samples in (("runtime: save -> new code", base), ("relay run --watch", watch)):
        print(
            f"{label:<28} p50 {statistics.median(samples):6.1f} ms  p99 {pct(samples, 0.99):6.1f}"
            f" ms  ({statistics.median(samples) / statistics.median(base):.2f}x runtime p50)"
        )
    print(f"relay run --watch: runs beyond one per save: {extra}")


if __name__ == "__main__":
    main()
