"""Does relay's throughput grow with callers, and what CPU does one request cost relay? (issue 14)

`relay start --local` as users run it: the recorder on (the default) and the live view on a
terminal (a pseudo-terminal drained by this script), behind its function URL; direct mode and
`--via-stub`, plus direct mode with `--no-record` (what the recorder costs), beside peers.py's
limit server (a plain asyncio front calling the handler in-process) in the same run. Rounds
are interleaved so every tool sees the same machine load.

For each tool and 1/8/32 kept-alive callers (peers.py's `Http`/`throughput` client): req/s,
its ratio to the 1-caller figure of the same tool (scaling), its ratio to the limit server,
and CPU per request summed over the tool's process tree (utime+stime from /proc).

    .venv/bin/python bench/bench_scaling.py [--seconds 3] [--rounds 3] [--only direct]
        [--compare /path/to/other/checkout]   # e.g. main before a change, in the same run
        [--compare-flags=--no-record]         # the compared checkouts' relay start flags
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pty
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import CALLERS, Http, Tool, limit_tool, prepare, relay_tool, throughput

TICK = os.sysconf("SC_CLK_TCK")
#: Callers at which CPU per request is also shown per part of the process tree.
BREAKDOWN = 8
#: Unmeasured calls before each figure, at its number of callers.
WARM_S = 1.0


def tree_cpu_s(pid: int) -> float:
    """utime+stime (and that of reaped children) of a process and all its descendants."""
    return sum(tree_cpu_parts(pid).values())


def tree_cpu_parts(pid: int) -> dict[str, float]:
    """The same, per part of the tree: relay's own process, the emulator's process (the stub
    path), the handlers' workers and the stub's workers (workers under the emulator)."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            stats[int(stat.parent.name)] = fields
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    parts: dict[str, float] = {}
    todo = [(pid, "relay process")]
    while todo:
        current, part = todo.pop()
        fields = stats.get(current)
        if fields:  # fields[11:15]: utime, stime, cutime, cstime (after "state" at [0])
            parts[part] = parts.get(part, 0.0) + sum(int(v) for v in fields[11:15]) / TICK
        for child in children.get(current, []):
            todo.append((child, _part_of(child, part)))
    return parts


def _part_of(pid: int, parent_part: str) -> str:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return parent_part
    if b" emulator" in command:
        return "emulator process"
    if b"worker_entry" in command:
        return "stub workers" if parent_part.startswith("emulator") else "handler workers"
    return parent_part


@dataclass
class Measured:
    tool: Tool
    url: str = ""
    requests: dict[int, int] = field(default_factory=dict)
    seconds: dict[int, float] = field(default_factory=dict)
    cpu: dict[int, float] = field(default_factory=dict)
    parts: dict[str, float] = field(default_factory=dict)  # CPU s by part, at BREAKDOWN callers
    failed: str | None = None

    def rate(self, callers: int) -> float:
        seconds = self.seconds.get(callers)
        return self.requests.get(callers, 0) / seconds if seconds else 0.0


def start_on_terminal(tool: Tool, workdir: Path) -> float:
    """Like `Tool.start`, but the tool's output is a terminal (the live view as users see it),
    drained into the log by a thread of this process."""
    tool.workdir = workdir
    tool.log = workdir / f"{tool.name.replace(' ', '_')}.log"
    env = {**os.environ, **tool.env, "COLUMNS": "120", "TERM": "xterm-256color"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("CI", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    master, slave = pty.openpty()
    log = tool.log.open("wb")

    def drain() -> None:
        with contextlib.suppress(OSError):
            while chunk := os.read(master, 65536):
                log.write(chunk)
                log.flush()
        log.close()

    started = time.perf_counter()
    tool.proc = subprocess.Popen(
        tool.command,
        cwd=workdir,
        stdout=slave,
        stderr=slave,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    threading.Thread(target=drain, daemon=True).start()
    pattern = re.compile(tool.ready)
    deadline = time.monotonic() + 300
    while not pattern.search(tool.output()):
        if tool.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{tool.name} did not become ready:\n{tool.output()[-2000:]}")
        time.sleep(0.05)
    return time.perf_counter() - started


async def one_round(each: Measured, seconds: float) -> None:
    http = Http(each.url)
    raw = http.request()
    pid = each.tool.proc.pid  # type: ignore[union-attr]
    for callers in CALLERS:
        # Steady state: the pools (the runtime's workers, the emulator's stub workers) grow to
        # this many callers first; else each new worker's start is billed to the figure.
        await throughput(each.url, raw, callers, WARM_S, lambda: None)
        before = tree_cpu_parts(pid)
        done, elapsed = await throughput(each.url, raw, callers, seconds, lambda: None)
        after = tree_cpu_parts(pid)
        used = sum(after.values()) - sum(before.values())
        if callers == BREAKDOWN:
            for part, cpu in after.items():
                each.parts[part] = each.parts.get(part, 0.0) + cpu - before.get(part, 0.0)
        each.requests[callers] = each.requests.get(callers, 0) + done
        each.seconds[callers] = each.seconds.get(callers, 0.0) + elapsed
        each.cpu[callers] = each.cpu.get(callers, 0.0) + used


def report(measured: list[Measured], loads: list[float]) -> str:
    limit = measured[0]
    lines = [
        f"load average during the run: {min(loads):.1f}-{max(loads):.1f} ({os.cpu_count()} cores)",
        f"{'tool':<28} {'callers':>7} {'req/s':>8} {'x 1 caller':>10} {'/ limit':>8} "
        f"{'CPU ms/req':>10}",
    ]
    for each in measured:
        if each.failed:
            lines.append(f"{each.tool.name:<28} failed: {each.failed}")
            continue
        one = each.rate(1) or float("nan")
        for callers in CALLERS:
            rate = each.rate(callers)
            cpu_ms = each.cpu[callers] / max(1, each.requests[callers]) * 1000
            ratio_limit = rate / limit.rate(callers) if limit.rate(callers) else float("nan")
            lines.append(
                f"{each.tool.name:<28} {callers:>7} {rate:>8.0f} {rate / one:>10.2f} "
                f"{ratio_limit:>8.3f} {cpu_ms:>10.3f}"
            )
    lines.append(f"CPU ms per request by part of the process tree, {BREAKDOWN} callers:")
    for each in measured[1:]:
        if each.failed or not each.parts:
            continue
        done = max(1, each.requests.get(BREAKDOWN, 0))
        shares = ", ".join(
            f"{part} {cpu / done * 1000:.3f}"
            for part, cpu in sorted(each.parts.items(), key=lambda kv: -kv[1])
        )
        lines.append(f"  {each.tool.name}: {shares}")
    return "\n".join(lines)


def tools(args: argparse.Namespace) -> list[Tool]:
    """The limit server first (the ratios' baseline), then the relay variants."""
    chosen = [
        limit_tool(),
        relay_tool("relay direct"),
        relay_tool("relay direct --no-record", "--no-record"),
        relay_tool("relay --via-stub", "--via-stub"),
    ]
    if args.only:
        chosen = chosen[:1] + [t for t in chosen[1:] if any(o in t.name for o in args.only)]
    for other in args.compare or []:
        # another checkout's relay (e.g. main before a change), same venv, same run
        flags = args.compare_flags.split()
        tool = relay_tool(" ".join([f"relay direct ({other.name})", *flags]), *flags)
        tool.env["PYTHONPATH"] = str(other.resolve())
        chosen.append(tool)
    return chosen


async def run(args: argparse.Namespace) -> int:
    chosen = tools(args)
    measured: list[Measured] = []
    loads: list[float] = []
    with tempfile.TemporaryDirectory(prefix="relay-scaling-") as temp:
        try:
            for index, tool in enumerate(chosen):
                print(f"starting {tool.name} …", flush=True)
                start_on_terminal(tool, prepare(Path(temp) / f"t{index}"))
                each = Measured(tool, tool.url(tool.workdir))  # type: ignore[arg-type]
                first = Http(each.url)
                await first.send(first.request())  # the cold call
                first.close()
                measured.append(each)
            for r in range(args.rounds):
                print(f"round {r + 1}/{args.rounds} …", flush=True)
                order = measured[r % len(measured) :] + measured[: r % len(measured)]
                for each in order:
                    if each.failed is None:
                        loads.append(os.getloadavg()[0])
                        try:
                            await one_round(each, args.seconds / args.rounds)
                        except Exception as exc:  # one tool failing must not end the run
                            each.failed = f"{type(exc).__name__}: {exc}"
            loads.append(os.getloadavg()[0])
        finally:
            for each in measured:
                each.tool.stop()
            for tool in chosen:
                with contextlib.suppress(ProcessLookupError, AttributeError):
                    if tool.proc is not None and tool.proc.poll() is None:
                        os.killpg(tool.proc.pid, signal.SIGKILL)
    print()
    print(f"{args.seconds} s per figure in {args.rounds} interleaved rounds; function URL, echo")
    print(report(measured, loads))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per figure, all rounds")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the tools")
    parser.add_argument("--only", nargs="*", help="relay variants whose name contains one of these")
    parser.add_argument(
        "--compare", nargs="*", type=Path, help="checkouts whose relay (direct mode) runs beside"
    )
    parser.add_argument(
        "--compare-flags",
        default="",
        help="relay start flags of the compared checkouts, e.g. --compare-flags=--no-record",
    )
    args = parser.parse_args()
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
