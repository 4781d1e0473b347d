"""Benchmark of relay's local Lambda runtime against calling the handler in-process.

Run: .venv/bin/python bench/bench_runtime.py [--quick]

Prints, for one run on this machine: warm invocation latency and its overhead over a direct
call, cold start (a spare ready / from nothing), throughput with 8 concurrent callers, and
save-to-new-code latency over 25 edits, beside the peers' published figures (issue 3).
Also the cost of the dispatch-time save check (warm latency with it on and off, measured
interleaved in the same run, for a one-file handler and one that imports 100 modules; on Linux
the check reads the kernel's save events, elsewhere it stats each file: RELAY_NO_INOTIFY=1
measures the latter here) and
"save then invoke at once": one invocation right after each write, which must run the new code.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from relay.runtime import FunctionConfig, LocalRuntime
from relay.runtime.saves import SaveEvents

HANDLER = """\
VERSION = {version!r}


def handler(event, context):
    return {{"version": VERSION, "echo": event}}
"""
EVENT = b'{"id": 1, "name": "bench"}'
#: a handler importing this many modules of its own code folder (the check stats each)
MANY = 100


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def direct_call_ms(code: Path, n: int) -> list[float]:
    """The baseline: the same handler called in this process, event parsed and result dumped."""
    sys.path.insert(0, str(code))
    try:
        module = importlib.import_module("app")
        handler: Callable[[Any, Any], Any] = module.handler
        samples = []
        for _ in range(n):
            t0 = time.perf_counter()
            json.dumps(handler(json.loads(EVENT), None))
            samples.append((time.perf_counter() - t0) * 1000)
        return samples
    finally:
        sys.path.remove(str(code))
        sys.modules.pop("app", None)


async def warm_ms(rt: LocalRuntime, name: str, n: int) -> list[float]:
    for _ in range(50):
        await rt.invoke(name, EVENT)
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        await rt.invoke(name, EVENT)
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


async def warm_on_off_ms(
    on: LocalRuntime, off: LocalRuntime, name: str, n: int
) -> tuple[list[float], list[float]]:
    """Warm latency with the save check on and off, in alternating blocks (same load)."""
    for rt in (on, off):
        for _ in range(50):
            await rt.invoke(name, EVENT)
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(max(1, n // 100)):
        for rt, into in zip((on, off), samples, strict=True):
            for _ in range(100):
                t0 = time.perf_counter()
                await rt.invoke(name, EVENT)
                into.append((time.perf_counter() - t0) * 1000)
    return samples


def many_modules(code: Path) -> None:
    """A code folder whose handler imports MANY modules of its own (vendored-library size)."""
    (code / "lib").mkdir(parents=True)
    (code / "lib" / "__init__.py").write_text("")
    for i in range(MANY):
        (code / "lib" / f"m{i:03d}.py").write_text(f"VALUE = {i}\n")
    imports = "".join(f"import lib.m{i:03d}\n" for i in range(MANY))
    (code / "app.py").write_text(imports + HANDLER.format(version="many"))


async def cold_ms(code: Path, pycache: Path, *, spares: int, n: int) -> list[float]:
    """First invocation of a newly configured function."""
    samples = []
    async with LocalRuntime(watch=False, spares=spares, pycache_dir=pycache) as rt:
        for i in range(n):
            rt.configure(FunctionConfig(name=f"cold{i}", handler="app.handler", code_dir=code))
            if spares:
                await rt.wait_spares()  # started, awslambdaric imported, first request made
            t0 = time.perf_counter()
            result = await rt.invoke(f"cold{i}", EVENT)
            samples.append((time.perf_counter() - t0) * 1000)
            assert result.function_error is None, result.payload
            for worker in rt.workers(f"cold{i}"):
                await worker.close()
    return samples


async def throughput(rt: LocalRuntime, name: str, callers: int, seconds: float) -> float:
    done = 0
    stop = time.perf_counter() + seconds

    async def caller() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await rt.invoke(name, EVENT)
            done += 1

    for _ in range(3):  # bring all environments up first
        await asyncio.gather(*(rt.invoke(name, EVENT) for _ in range(callers)))
    t0 = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return done / (time.perf_counter() - t0)


async def reload_ms(rt: LocalRuntime, name: str, code: Path, edits: int) -> list[float]:
    """From the write of a new version to the first invocation that returns it."""
    samples = []
    for i in range(edits):
        version = f"edit-{i:04d}"
        await asyncio.sleep(0.15)  # a quiet moment between saves, as when typing
        t0 = time.perf_counter()
        (code / "app.py").write_text(HANDLER.format(version=version))
        while True:
            result = await rt.invoke(name, EVENT)
            if json.loads(result.payload).get("version") == version:
                break
            if time.perf_counter() - t0 > 10:
                raise RuntimeError(f"edit {i} never took effect: {result.payload!r}")
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


async def at_once_ms(
    rt: LocalRuntime, name: str, code: Path, edits: int
) -> tuple[list[float], int]:
    """From the write of a new version to the result of the one invocation started right after
    it (no waiting for the watcher); also how many of those ran the old code."""
    samples, stale = [], 0
    for i in range(edits):
        version = f"once-{i:04d}"
        await asyncio.sleep(0.15)
        t0 = time.perf_counter()
        (code / "app.py").write_text(HANDLER.format(version=version))
        result = await rt.invoke(name, EVENT)
        samples.append((time.perf_counter() - t0) * 1000)
        stale += json.loads(result.payload).get("version") != version
    return samples, stale


def row(label: str, value: str, goal: str, peers: str) -> None:
    print(f"  {label:<34} {value:>24}   {goal:<16} {peers}")


async def main(quick: bool) -> None:
    n_warm = 500 if quick else 3000
    n_cold = 5 if quick else 12
    edits = 20 if quick else 25
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
        code, pycache = Path(tmp, "code"), Path(tmp, "pyc")
        code.mkdir()
        (code / "app.py").write_text(HANDLER.format(version="base"))
        many = Path(tmp, "many")
        many_modules(many)

        direct = direct_call_ms(code, n_warm)
        cold_spare = await cold_ms(code, pycache, spares=1, n=n_cold)
        cold_nothing = await cold_ms(code, pycache, spares=0, n=n_cold)
        async with LocalRuntime(watch=True, max_workers=8, pycache_dir=pycache) as rt:
            rt.configure(FunctionConfig(name="bench", handler="app.handler", code_dir=code))
            warm = await warm_ms(rt, "bench", n_warm)
            tput = await throughput(rt, "bench", 8, 2.0 if quick else 4.0)
        async with LocalRuntime(watch=True, max_workers=8, pycache_dir=pycache) as rt:
            rt.configure(FunctionConfig(name="hot", handler="app.handler", code_dir=code))
            await rt.invoke("hot", EVENT)
            reload = await reload_ms(rt, "hot", code, edits)
            once, stale = await at_once_ms(rt, "hot", code, edits)
        checked: dict[str, int] = {}
        on_off: dict[str, tuple[list[float], list[float]]] = {}
        async with (
            LocalRuntime(watch=True, pycache_dir=pycache) as on,
            LocalRuntime(watch=True, check_saves=False, pycache_dir=pycache) as off,
        ):
            for label, folder in (("1 file", code), (f"{MANY + 2} files", many)):
                for rt in (on, off):
                    rt.configure(FunctionConfig(name=label, handler="app.handler", code_dir=folder))
                on_off[label] = await warm_on_off_ms(on, off, label, n_warm)
                checked[label] = len(on.checked_files(label))

    d50, d99 = pct(direct, 0.5), pct(direct, 0.99)
    w50, w99 = pct(warm, 0.5), pct(warm, 0.99)
    load = os.getloadavg()[0]
    print(
        f"relay local runtime benchmark  (python {sys.version.split()[0]}, "
        f"{os.cpu_count()} cores, load average {load:.1f})"
    )
    print(f"  {'measure':<34} {'relay (this run)':>24}   {'goal':<16} peers (issue 3)")
    row("direct in-process call p50/p99", f"{d50 * 1000:.1f} / {d99 * 1000:.1f} µs", "baseline", "")
    row("warm invocation p50/p99", f"{w50:.3f} / {w99:.3f} ms", "", "")
    row(
        "  overhead over direct p50/p99",
        f"{w50 - d50:.3f} / {w99 - d99:.3f} ms",
        "p50 <= 0.5 ms",
        "serverless-offline 0.98 ms",
    )
    row("  ratio to direct call (p50)", f"{w50 / d50:,.0f}x", "", "")
    row(
        "cold start, spare ready p50/max",
        f"{pct(cold_spare, 0.5):.1f} / {max(cold_spare):.1f} ms",
        "<= 100 ms",
        "sls-offline 130-157 ms",
    )
    row(
        "cold start, from nothing p50/max",
        f"{pct(cold_nothing, 0.5):.1f} / {max(cold_nothing):.1f} ms",
        "<= 100 ms",
        "python-lambda-local 223 ms; LocalStack 600 ms",
    )
    row(
        "throughput, 8 concurrent callers",
        f"{tput:,.0f} /s",
        ">= 2,500 /s",
        "serverless-offline 2,470 /s",
    )
    row("  ratio to direct call", f"{tput / (1000 / d50):.4f}x", "", "")
    row(
        f"save to new code ({edits} edits) p50/p99",
        f"{pct(reload, 0.5):.1f} / {pct(reload, 0.99):.1f} ms",
        "p50 10, p99 30 ms",
        "sls-offline 289 ms; LocalStack 700 ms; SST <10 ms",
    )
    row(
        f"save then invoke at once ({edits}) p50/p99",
        f"{pct(once, 0.5):.1f} / {pct(once, 0.99):.1f} ms",
        "stale: 0",
        f"stale (old code) this run: {stale}",
    )
    print(
        f"  (reload mean {statistics.mean(reload):.1f} ms, max {max(reload):.1f} ms; "
        f"cold-from-nothing includes starting Python and importing awslambdaric)"
    )
    print("  dispatch-time save check, warm invocation p50 with it on / off (interleaved):")
    how = "by inotify" if SaveEvents.shared() is not None else "each stat'ed"
    for label, (with_check, without) in on_off.items():
        on50, off50 = pct(with_check, 0.5), pct(without, 0.5)
        row(
            f"  {label} ({checked[label]} checked, {how})",
            f"{on50:.3f} / {off50:.3f} ms",
            f"+{(on50 - off50) * 1000:.0f} µs",
            f"overhead over direct p50 with check: {on50 - d50:.3f} ms",
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (about 15 s)")
    asyncio.run(main(parser.parse_args().quick))
