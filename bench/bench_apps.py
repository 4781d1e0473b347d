"""Real apps: what skipping bundling saves in live synthesis, and what per-function
environments cost on a first and on a cached start.

    .venv/bin/python bench/bench_apps.py [--pairs 3]

App: bench/three_requirements, three functions each with its own requirements.txt, bundled
the way PythonFunction bundles (pip install -r requirements.txt into the asset; a local
bundler here, as there is no Docker).

1. Live synthesis with bundling skipped (relay's default) vs bundling every stack
   (``bundle=["**"]``), interleaved in pairs, each on a fresh output folder.
2. Per-function environments (relay/runtime/envs.py) for the three functions: the first
   build (empty environment cache; uv's download cache is the user's, as on a laptop that
   has installed these once) vs a cached start, each followed by one invocation of each
   function through LocalRuntime (process start + import).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from relay.cdk.live_config import LiveConfig, LiveTargets
from relay.cloud import synth
from relay.cloud.stub_asset import build_stub_asset
from relay.runtime import FunctionConfig, LocalRuntime
from relay.runtime.envs import EnvBuilder

APP = Path(__file__).parent / "three_requirements"
NAMES = ("dates", "slugs", "tables")


def _synth(project: Path, live: LiveConfig, out: Path, bundle: list[str] | None) -> float:
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    synth.synthesize(project, "bench", out_dir=out, live=live, validation=False, bundle=bundle)
    return time.perf_counter() - started


def bench_synthesis(project: Path, pairs: int) -> None:
    live = LiveConfig(
        stage="bench", stub_dir=str(build_stub_asset()), targets=LiveTargets.placeholders("bench")
    )
    skipped, bundled = [], []
    for i in range(pairs):
        out = project / ".relay" / f"out-{i}"
        # alternate which goes first, so a warming cache favours neither
        order = [(skipped, None), (bundled, ["**"])]
        for times, bundle in order if i % 2 == 0 else reversed(order):
            times.append(_synth(project, live, out, bundle))
    s, b = statistics.median(skipped), statistics.median(bundled)
    print(f"live synthesis, bundling skipped: median {s:.1f} s  {[round(t, 1) for t in skipped]}")
    print(f"live synthesis, bundling on:      median {b:.1f} s  {[round(t, 1) for t in bundled]}")
    print(f"  skipped / bundled = {s / b:.2f}")


def _configs(project: Path) -> list[FunctionConfig]:
    return [
        FunctionConfig(
            name=name,
            handler="main.handler",
            code_dir=project / "functions" / name,
            runtime=f"python{sys.version_info.major}.{sys.version_info.minor}",
        )
        for name in NAMES
    ]


async def _start(configs: list[FunctionConfig], cache: Path) -> tuple[float, float]:
    """(environments ready, first invocation of each answered) in seconds."""
    started = time.perf_counter()
    builder = EnvBuilder(cache)
    async with LocalRuntime(watch=False, spares=0, envs=builder) as runtime:
        for config in configs:
            runtime.configure(config)
        failures = await runtime.prepare(configs)
        assert not failures, failures
        ready = time.perf_counter() - started
        for config in configs:
            result = await runtime.invoke(config.name, b"{}")
            assert result.function_error is None, result.payload
        return ready, time.perf_counter() - started


def bench_environments(project: Path, runs: int) -> None:
    configs = _configs(project)
    firsts, cached = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="relay-envs-") as folder:
            firsts.append(asyncio.run(_start(configs, Path(folder))))
            cached.append(asyncio.run(_start(configs, Path(folder))))
    for label, rows in (("first start ", firsts), ("cached start", cached)):
        ready = statistics.median(r for r, _ in rows)
        answered = statistics.median(a for _, a in rows)
        print(
            f"{label}: environments ready {ready * 1000:8.1f} ms, "
            f"all three answered {answered * 1000:8.1f} ms  (median of {len(rows)})"
        )
    first = statistics.median(r for r, _ in firsts)
    again = statistics.median(r for r, _ in cached)
    print(f"  cached / first (environments) = {again / first:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="relay-bench-apps-") as tmp:
        project = Path(tmp) / "three"
        shutil.copytree(APP, project)
        bench_synthesis(project, args.pairs)
        bench_environments(project, args.pairs)


if __name__ == "__main__":
    main()
