"""Benchmark of relay's local Lambda runtime against calling the handler in-process.

Run: .venv/bin/python bench/bench_runtime.py [--quick]

Prints, for one run on this machine: warm invocation latency and its overhead over a direct
call, cold start (a spare ready / from nothing), throughput with 8 concurrent callers, and
save-to-new-code latency over 25 edits, beside the peers' published figures (issue 3).
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

HANDLER = """\
VERSION = {version!r}


def handler(event, context):
    return {{"version": VERSION, "echo": event}}
"""
EVENT = b'{"id": 1, "name": "bench"}'


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
    print(
        f"  (reload mean {statistics.mean(reload):.1f} ms, max {max(reload):.1f} ms; "
        f"cold-from-nothing includes starting Python and importing awslambdaric)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (about 15 s)")
    asyncio.run(main(parser.parse_args().quick))
