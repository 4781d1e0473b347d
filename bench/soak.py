"""Run the test suite again and again under a parallel CPU load; stop at the first failure.

A flaky test fails one run in ten on a loaded machine, which is what CI is; one green run
proves little. `make soak` (or `python bench/soak.py --runs 10`) runs the suite N times,
each with `--load` busy processes (default: one per core) competing for the CPU, keeps
every run's output in `--logs` and prints one line per run. The busy processes are
bounded: each stops when its run ends, when `--max-minutes` have passed, or when this
script is gone, whichever comes first.

Extra arguments after `--` go to pytest, e.g. to soak one test:
    python bench/soak.py --runs 30 -- tests/debug/test_breakpoints.py -k wait_for_debugger
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Spins until its deadline or until its parent (this script) is gone.
_BUSY = """
import os, sys, time
end, parent = time.monotonic() + float(sys.argv[1]), os.getppid()
while time.monotonic() < end and os.getppid() == parent:
    for _ in range(200_000):
        pass
"""


@contextmanager
def cpu_load(processes: int, max_seconds: float) -> Iterator[None]:
    """`processes` busy loops for the duration of the block (never longer than max_seconds)."""
    busy = [
        subprocess.Popen([sys.executable, "-c", _BUSY, str(max_seconds)]) for _ in range(processes)
    ]
    try:
        yield
    finally:
        for proc in busy:
            proc.terminate()
        for proc in busy:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="how many runs (default 10)")
    parser.add_argument(
        "--load",
        type=int,
        default=os.cpu_count() or 2,
        help="busy processes running beside each run (default: one per core)",
    )
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=30.0,
        help="a run (and its load) that takes longer than this is a failure (default 30)",
    )
    parser.add_argument(
        "--logs", type=Path, default=ROOT / ".relay" / "soak", help="where each run's output goes"
    )
    args, pytest_args = parser.parse_known_args(argv)
    pytest_args = [a for a in pytest_args if a != "--"]
    args.logs.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *pytest_args]
    print(
        f"soak: {args.runs} runs of `{' '.join(command[1:])}` beside {args.load} busy "
        f"processes; output in {args.logs}",
        flush=True,
    )
    started = time.monotonic()
    for run in range(1, args.runs + 1):
        log = args.logs / f"run-{run:02d}.log"
        begun = time.monotonic()
        with cpu_load(args.load, args.max_minutes * 60), log.open("w") as out:
            try:
                code = subprocess.run(
                    command,
                    cwd=ROOT,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=args.max_minutes * 60,
                    check=False,
                ).returncode
            except subprocess.TimeoutExpired:
                code = -1
        took = time.monotonic() - begun
        summary = _last_line(log.read_text(errors="replace"))
        if code == -1:
            summary = f"still running after {args.max_minutes:g} min, stopped"
        verdict = "ok" if code == 0 else "FAILED"
        print(f"run {run}/{args.runs}: {verdict} in {took:.0f} s: {summary}", flush=True)
        if code != 0:
            print(f"soak: run {run} failed; its output: {log}", file=sys.stderr)
            return 1
    total = (time.monotonic() - started) / 60
    print(f"soak: {args.runs} of {args.runs} runs green under load ({total:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
