"""`relay start --local` from the command to "relay: ready": first start, second start, and the
first start of a second app (relay used before on this machine), each as a ratio to a CDK
synthesis alone and to a bare Python start measured in the same round.

    .venv/bin/python bench/bench_start.py [--rounds 3] [--old REF]

Every round uses a fresh copy of bench/app (the peers' CDK app) and an empty relay cache
($RELAY_CACHE_DIR): "first" is a first start on a machine where relay never ran, "second"
the same folder again (nothing changed), "other app" a fresh copy beside it afterwards (the
shared debug-stack assembly and the stub asset are in the cache; the app is not synthesized).
Memory: the PSS of the whole process tree 1 s after the second start was ready (no call yet).
``--old REF`` runs that commit of relay too (a detached git worktree on PYTHONPATH; relay.cdk
still comes from this checkout, which the run says if infra/ differs), interleaved with this
one round by round. As in bench/peers.py, Python may write its bytecode cache (the sandbox's
PYTHONDONTWRITEBYTECODE is dropped) as on a developer's machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from peers import APP, relay_tool, tree_memory_mb  # noqa: E402

SCENARIOS = ("first", "second", "other app")
REST = 1.0  # seconds after ready before the memory is read, as bench/peers.py's "at rest"


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **extra}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def _copy_app(folder: Path) -> Path:
    shutil.copytree(APP, folder, ignore=shutil.ignore_patterns("__pycache__", ".relay", "cdk.out"))
    return folder


def baselines(work: Path) -> dict[str, float]:
    """A bare Python start, and `cdk synth` of the same app (the CDK CLI, as users run it)."""
    work.mkdir(parents=True)
    env = _env(CDK_DISABLE_CLI_TELEMETRY="true")
    python = statistics.median(_timed([sys.executable, "-c", "pass"], work, env) for _ in range(5))
    app = _copy_app(work / "synth-alone")
    cdk = ROOT / "node_modules" / ".bin" / "cdk"
    synth = _timed([str(cdk), "synth", "-q", "--no-notices", "-o", str(app / "cdk.out")], app, env)
    return {"python -c pass": python, "cdk synth": synth}


def start_once(folder: Path, cache: Path, pythonpath: str | None) -> tuple[float, float]:
    """Seconds from the command to ready; PSS (MB) of its process tree at rest after it."""
    tool = relay_tool("relay start --local")
    tool.env = {"RELAY_CACHE_DIR": str(cache)}
    if pythonpath:
        tool.env["PYTHONPATH"] = pythonpath
    try:
        seconds = tool.start(folder)
        time.sleep(REST)
        assert tool.proc is not None
        return seconds, tree_memory_mb(tool.proc.pid)
    finally:
        tool.stop()


def one_round(work: Path, pythonpath: str | None) -> dict[str, float]:
    cache = work / "cache"
    first_app = _copy_app(work / "app-one")
    figures: dict[str, float] = {}
    figures["first"], _ = start_once(first_app, cache, pythonpath)
    figures["second"], figures["memory"] = start_once(first_app, cache, pythonpath)
    figures["other app"], _ = start_once(_copy_app(work / "app-two"), cache, pythonpath)
    print(
        "  "
        + ", ".join(f"{k} {figures[k]:.1f} s" for k in SCENARIOS)
        + f"; at rest {figures['memory']:.0f} MB",
        flush=True,
    )
    return figures


def old_checkout(ref: str, into: Path) -> Path:
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(into), ref],
        check=True, capture_output=True,
    )  # fmt: skip
    differs = subprocess.run(
        ["git", "-C", str(ROOT), "diff", "--quiet", ref, "--", "infra", "stub_lambda"],
        check=False,
    ).returncode
    if differs:
        print(f"note: infra/ or stub_lambda/ differ from {ref}; both variants use this checkout's")
    return into


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--old", help="a commit of relay to measure beside this checkout")
    args = parser.parse_args()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="relay-bench-start-") as temp:
        work = Path(temp)
        variants: dict[str, str | None] = {"this checkout": None}
        if args.old:
            variants = {f"old ({args.old})": str(old_checkout(args.old, work / "old")), **variants}
        for root in [ROOT, *(Path(p) for p in variants.values() if p)]:  # as after a first use
            subprocess.run(
                [sys.executable, "-m", "compileall", "-q", str(root / "relay")],
                env=_env(), check=True,
            )  # fmt: skip
        results: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
        base: list[dict[str, float]] = []
        try:
            for r in range(args.rounds):
                names = list(variants)
                order = names[r % len(names) :] + names[: r % len(names)]
                for name in order:
                    print(f"round {r + 1}/{args.rounds}: {name} …", flush=True)
                    results[name].append(one_round(work / f"r{r}-{len(results[name])}-{name[:3]}",
                                                   variants[name]))  # fmt: skip
                base.append(baselines(work / f"r{r}-base"))
                print("  " + ", ".join(f"{k} {v:.2f} s" for k, v in base[-1].items()), flush=True)
        finally:
            if args.old:
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(work / "old")],
                    check=False, capture_output=True,
                )  # fmt: skip
    load_end = os.getloadavg()
    python = statistics.median(b["python -c pass"] for b in base)
    synth = statistics.median(b["cdk synth"] for b in base)
    print(f"\nload average {load_start[0]:.1f} at the start, {load_end[0]:.1f} at the end; "
          f"{args.rounds} round(s), medians (each round's figures in brackets)")  # fmt: skip
    each = ", ".join(f"{b['cdk synth']:.1f}" for b in base)
    print(f"  python -c pass {python:5.2f} s; cdk synth of bench/app {synth:5.1f} s [{each}]")
    print(f"  {'command to ready':<26}" + "".join(f"{s:>34}" for s in SCENARIOS))
    for name, rounds in results.items():
        cells = []
        for scenario in SCENARIOS:
            values = [r[scenario] for r in rounds]
            median = statistics.median(values)
            cells.append(f"{median:5.1f} s = {median / synth:4.2f}x synth [{values[0]:.1f}"
                         + "".join(f", {v:.1f}" for v in values[1:]) + "]")  # fmt: skip
        print(f"  {name:<26}" + "".join(f"{c:>34}" for c in cells))
    print(f"  {'memory at rest (PSS of the tree, after the second start, before any call)'}")
    for name, rounds in results.items():
        values = [r["memory"] for r in rounds]
        each = ", ".join(f"{v:.0f}" for v in values)
        print(f"  {name:<26}{statistics.median(values):5.0f} MB [{each}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
