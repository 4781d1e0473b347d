"""CPU per invocation of the handler workers, and of relay's side, for one worker entry or two.

Run: .venv/bin/python bench/bench_worker.py [--seconds 3] [--rounds 4] [--callers 1 8]
         [--compare /path/to/other/checkout]

relay's LocalRuntime (no watcher, no recorder, no HTTP front) runs bench/app's echo handler
with a function URL event, with N callers. For each figure: invocations per second, the
workers' CPU per invocation (utime+stime from /proc, summed over the function's workers) and
this process's (relay's side: pool, Runtime API server). With ``--compare``, the other
checkout's ``relay/runtime/worker_entry.py`` runs the same handler in rounds interleaved with
this one's (same machine load); relay's side is this checkout's for both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from relay.runtime import FunctionConfig, LocalRuntime
from relay.runtime import process as worker_process

ECHO = Path(__file__).resolve().parent / "app" / "functions" / "echo"
TICK = os.sysconf("SC_CLK_TCK")
EVENT = json.dumps(
    {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {"host": "127.0.0.1", "user-agent": "bench", "accept": "*/*"},
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "bench",
            "domainName": "127.0.0.1",
            "http": {
                "method": "GET",
                "path": "/",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "bench",
            },
            "requestId": "0" * 36,
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Dec/2026:21:00:00 +0000",
            "timeEpoch": 1764622800000,
        },
        "isBase64Encoded": False,
    }
).encode()


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


@dataclass
class Figure:
    invocations: int = 0
    seconds: float = 0.0
    worker_cpu: float = 0.0
    relay_cpu: float = 0.0
    rates: list[float] = field(default_factory=list)

    def row(self, label: str) -> str:
        n = max(1, self.invocations)
        return (
            f"{label:<34} {self.invocations / self.seconds:>8.0f} "
            f"{self.worker_cpu / n * 1e6:>10.0f} {self.relay_cpu / n * 1e6:>10.0f} "
            f"{(self.worker_cpu + self.relay_cpu) / n * 1e6:>10.0f}"
        )


async def measure(rt: LocalRuntime, callers: int, seconds: float, into: Figure) -> None:
    for _ in range(3):  # every environment up and warm first
        await asyncio.gather(*(rt.invoke("echo", EVENT) for _ in range(callers)))
    pids = [w.pid for w in rt.workers("echo")]
    done = 0
    stop = time.perf_counter() + seconds

    async def caller() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            result = await rt.invoke("echo", EVENT)
            assert result.function_error is None, result.payload
            done += 1

    workers0, relay0, t0 = sum(map(cpu_s, pids)), cpu_s(os.getpid()), time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    elapsed = time.perf_counter() - t0
    into.worker_cpu += sum(map(cpu_s, pids)) - workers0
    into.relay_cpu += cpu_s(os.getpid()) - relay0
    into.invocations += done
    into.seconds += elapsed


async def run(args: argparse.Namespace) -> None:
    entries = {"this checkout": worker_process.ENTRY}
    for other in args.compare or []:
        entries[other.name] = str(other.resolve() / "relay" / "runtime" / "worker_entry.py")
    figures = {(label, c): Figure() for label in entries for c in args.callers}
    with tempfile.TemporaryDirectory(prefix="relay-bench-worker-") as tmp:
        for r in range(args.rounds):
            order = list(entries.items())
            order = order[r % len(order) :] + order[: r % len(order)]
            for label, entry in order:
                worker_process.ENTRY = entry  # read when each worker starts
                async with LocalRuntime(
                    watch=False, spares=0, max_workers=max(args.callers), pycache_dir=Path(tmp)
                ) as rt:
                    rt.configure(
                        FunctionConfig(name="echo", handler="handler.handler", code_dir=ECHO)
                    )
                    for callers in args.callers:
                        await measure(rt, callers, args.seconds, figures[label, callers])
    print(
        f"{args.seconds} s per figure x {args.rounds} interleaved rounds; load now "
        f"{os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)"
    )
    print(
        f"{'worker entry, callers':<34} {'inv/s':>8} {'worker us':>10} {'relay us':>10} "
        f"{'sum us':>10}   (CPU per invocation)"
    )
    for (label, callers), figure in figures.items():
        print(figure.row(f"{label}, {callers}"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per figure and round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--callers", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--compare", type=Path, nargs="*", help="other checkouts' worker entry")
    asyncio.run(run(parser.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
