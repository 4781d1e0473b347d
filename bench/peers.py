"""relay and its peers side by side: the same handler, the same events, the same keep-alive
client, in one run, each figure also as a ratio to the physical limit measured in that run.

    .venv/bin/python bench/peers.py --setup        # install the peers (into a cache folder)
    .venv/bin/python bench/peers.py [--quick]      # measure, print the table, write the plot

The limit is the handler called in-process, and a plain asyncio HTTP front (its own process)
calling it in-process. Peers that cannot run here are skipped with one line; published figures
of tools that cannot run here at all are quoted apart, never mixed into measured columns.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from relay.link import http1

ROOT = Path(__file__).resolve().parents[1]
APP = Path(__file__).resolve().parent / "app"
CACHE = Path(os.environ.get("RELAY_BENCH_CACHE", Path.home() / ".cache" / "relay-bench"))
NPM_DIR = CACHE / "npm"
PY_DIR = CACHE / "venv"
OUT = ROOT / "docs" / "bench"
NPM_PEERS = ["serverless@3", "serverless-offline@13"]
SIZES = {"1 KB": 1024, "200 KB": 200 * 1024, "6 MB": 6_000_000}
CALLERS = (1, 8, 32)
#: The throughput figure during which each tool's CPU per request is measured.
CPU_CALLERS = 8
#: Between two saves of the reload figure: a developer saving three times a second (several
#: same-size saves within one second, which timestamps alone may not tell apart).
PAUSE = 0.3
PUBLISHED = [
    (
        "LocalStack",
        "warm invoke of a simple echo function ~10 ms",
        "docs.localstack.cloud, Lambda provider behavioural changes",
    ),
    (
        "LocalStack",
        "hot reload: up to 700 ms to detect a change; invocations meanwhile run the former code",
        "docs.localstack.cloud/user-guide/lambda-tools/hot-reloading",
    ),
    ("LocalStack", "cold start ~600 ms", "issue 14's figure; no source found from here"),
    ("SST (Live)", 'changes "reloaded in under 10ms"', "sst.dev/docs/live"),
]

Samples = list[float]


# -- setup ----------------------------------------------------------------------------------


def setup() -> int:
    """Install every peer the registries offer into CACHE; one line per peer skipped."""
    CACHE.mkdir(parents=True, exist_ok=True)
    if importlib.util.find_spec("matplotlib") is None:
        _step([sys.executable, "-m", "pip", "install", "-q", "-e", f"{ROOT}[bench]"], "matplotlib")
    NPM_DIR.mkdir(exist_ok=True)
    (NPM_DIR / "package.json").write_text('{"name": "relay-bench-peers", "private": true}\n')
    if shutil.which("npm") is None:
        print("skip: serverless-offline: npm is not installed")
    else:
        _step(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", *NPM_PEERS],
            "serverless-offline",
            cwd=NPM_DIR,
        )
    if not (PY_DIR / "bin" / "python").exists():
        _step(
            [sys.executable, "-m", "venv", str(PY_DIR)], "a virtual environment for the PyPI peers"
        )
    wanted = ["python-lambda-local"] + (["aws-sam-cli"] if docker_available() else [])
    _step([str(PY_DIR / "bin" / "pip"), "install", "-q", *wanted], " and ".join(wanted))
    if not docker_available():
        print("skip: AWS SAM CLI: needs Docker, which is not available on this machine")
    return 0


def _step(args: list[str], what: str, cwd: Path | None = None) -> None:
    print(f"setup: {what} …", flush=True)
    done = subprocess.run(args, cwd=cwd, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"skip: {what}: install failed: {(done.stderr or done.stdout).strip()[-300:]}")


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


# -- a keep-alive HTTP client (the same one for every tool) --------------------------------


class Http:
    """One kept-alive HTTP/1.1 connection; requests are pre-encoded, so callers cost little."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.url = url
        self.path = parts.path or "/"
        self.netloc = parts.netloc
        self._stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._parser = http1.ResponseParser()

    def request(
        self,
        query: str = "",
        method: str = "GET",
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> bytes:
        target = self.path + (f"?{query}" if query else "")
        return http1.encode_request(method, target, (headers or {}).items(), body, host=self.netloc)

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        for attempt in (1, 2):
            if self._stream is None:
                self._stream = await asyncio.open_connection(self.host, self.port)
                self._parser = http1.ResponseParser()
            reader, writer = self._stream
            try:
                writer.write(raw)
                response = await _response(reader, self._parser)
            except (OSError, ValueError):
                self.close()
                if attempt == 2:
                    raise
                continue
            if not response.keep_alive:
                self.close()
            return response.status, response.body
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._stream is not None:
            self._stream[1].close()
            self._stream = None


async def _response(reader: asyncio.StreamReader, parser: http1.ResponseParser) -> http1.Response:
    while (response := parser.next()) is None:
        data = await reader.read(65536)
        if not data:
            if (response := parser.feed_eof()) is None:
                raise ConnectionResetError("the server closed the connection")
            break
        parser.feed(data)
    return response


# -- the limit: a plain asyncio HTTP front calling the handler in-process -------------------


def serve_limit(code: Path, port_file: Path) -> None:
    """`peers.py --limit-server`: the fastest HTTP front the handler could have."""
    sys.path.insert(0, str(code))
    import handler as module  # type: ignore[import-not-found]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser = http1.RequestParser()
        with contextlib.suppress(OSError, ValueError):
            while True:
                request = parser.next()
                if request is None:
                    data = await reader.read(65536)
                    if not data:
                        break
                    parser.feed(data)
                    continue
                method, target, body = request.method, request.target, request.body
                path, _, query = target.partition("?")
                params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
                event = {
                    "version": "2.0",
                    "rawPath": path,
                    "rawQueryString": query,
                    "queryStringParameters": params or None,
                    "body": body.decode() or None,
                    "requestContext": {"http": {"method": method, "path": path}},
                }
                result = module.handler(event, None)
                out = result["body"].encode()
                content_type = [("Content-Type", "text/plain")]
                writer.write(http1.encode_response(result["statusCode"], out, content_type))
                await writer.drain()
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port_file.write_text(str(server.sockets[0].getsockname()[1]))
        print("limit server ready", flush=True)
        await server.serve_forever()

    asyncio.run(main())


# -- tools ----------------------------------------------------------------------------------


@dataclass
class Tool:
    """One tool under test: a command that serves the app's handler behind an HTTP front."""

    name: str
    command: list[str]
    ready: str  # a regex on the tool's output that says it is ready
    url: Callable[[Path], str]  # the HTTP front, once ready
    note: str = ""
    reload: bool = True  # does it pick up saved code at all
    env: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Front] = field(default_factory=dict)
    workdir: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def start(self, workdir: Path) -> float:
        """Run the command in its own copy of the app; seconds from the command to ready."""
        self.workdir = workdir
        self.log = workdir / f"{self.name.replace(' ', '_')}.log"
        env = {**os.environ, **self.env}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env.pop("CI", None)
        # as on a developer's machine: Python keeps its bytecode cache (this sandbox sets
        # PYTHONDONTWRITEBYTECODE, which makes every Python start compile its imports again)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        with self.log.open("wb") as log:
            started = time.perf_counter()
            self.proc = subprocess.Popen(
                self.command,
                cwd=workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        pattern = re.compile(self.ready)
        deadline = time.monotonic() + 300
        while not pattern.search(self.log.read_text(errors="replace")):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not become ready:\n{self.output()[-2000:]}")
            time.sleep(0.005)
        return time.perf_counter() - started

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


#: An extra front of a tool: its URL, method, headers and body, from the tool's workdir.
Front = Callable[[Path], tuple[str, str, dict[str, str], bytes]]


def _session(workdir: Path) -> dict[str, Any]:
    return json.loads((workdir / ".relay/stages/bench/session.json").read_text())


def _relay_function_url(workdir: Path) -> str:
    return _session(workdir)["functions"][0]["function_url"].rstrip("/") + "/echo"


def _relay_http_api(workdir: Path) -> tuple[str, str, dict[str, str], bytes]:
    for api in _session(workdir).get("apis", []):
        if api.get("type") == "HTTP" and api.get("url"):
            return api["url"].rstrip("/") + "/echo", "GET", {}, b""
    raise LookupError("this relay has no API Gateway front in session.json")


def _relay_invoke(workdir: Path) -> tuple[str, str, dict[str, str], bytes]:
    """The Invoke API, signed once with botocore (the emulator checks it on every request)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from relay.emulator import LOCAL_CREDENTIALS

    session = _session(workdir)
    name = session["functions"][0]["function_name"]
    url = f"{session['lambda_endpoint']}/2015-03-31/functions/{name}/invocations"
    request = AWSRequest(method="POST", url=url, data=b"{}")
    creds = Credentials(LOCAL_CREDENTIALS.access_key, LOCAL_CREDENTIALS.secret_key)
    SigV4Auth(creds, "lambda", session["region"]).add_auth(request)
    headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
    return url, "POST", headers, b"{}"


def relay_tool(name: str, *flags: str, note: str = "") -> Tool:
    return Tool(
        name=name,
        command=[
            sys.executable,
            "-m",
            "relay",
            "start",
            "--local",
            "--stage",
            "bench",
            "--app",
            ".",
            *flags,
        ],
        ready=r"relay: ready",
        url=_relay_function_url,
        note=note,
        extra={"API Gateway HTTP API": _relay_http_api, "Invoke API": _relay_invoke},
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serverless_tool(name: str, *flags: str, note: str = "", reload: bool = False) -> Tool:
    http_port, lambda_port = free_port(), free_port()
    return Tool(
        name=name,
        command=[
            "node",
            str(NPM_DIR / "node_modules/serverless/bin/serverless.js"),
            "offline",
            "start",
            "--httpPort",
            str(http_port),
            "--lambdaPort",
            str(lambda_port),
            *flags,
        ],
        ready=r"Server ready: http://",
        url=lambda workdir: f"http://127.0.0.1:{http_port}/echo",
        note=note,
        reload=reload,
        env={
            "SLS_TELEMETRY_DISABLED": "1",
            "SLS_NOTIFICATIONS_MODE": "off",
            "SLS_DEPRECATION_DISABLE": "*",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
        },
    )


def sam_tool() -> Tool:
    """`sam local start-api` (Docker): not run on the machine these figures come from."""
    port = free_port()
    return Tool(
        name="sam local start-api",
        command=[
            str(PY_DIR / "bin" / "sam"),
            "local",
            "start-api",
            "--port",
            str(port),
            "--template",
            "template.yaml",
        ],
        ready=r"Running on http",
        url=lambda workdir: f"http://127.0.0.1:{port}/echo",
        env={"SAM_CLI_TELEMETRY": "0"},
    )


def _port_file_tool(name: str, flag: str, ready: str, note: str = "") -> Tool:
    """A server of this file's (``flag``) that writes its port to a file in the workdir."""
    return Tool(
        name=name,
        command=[sys.executable, str(Path(__file__).resolve()), flag, "port"],
        ready=ready,
        url=lambda workdir: f"http://127.0.0.1:{(workdir / 'port').read_text()}/echo",
        reload=False,
        note=note,
    )


def limit_tool() -> Tool:
    return _port_file_tool("limit (asyncio front)", "--limit-server", r"limit server ready")


def floor_tool() -> Tool:
    """bench/runtime_floor.py: stock awslambdaric behind the thinnest fronts (no features)."""
    return _port_file_tool(
        "floor (awslambdaric, bare fronts)",
        "--runtime-floor",
        r"runtime floor ready",
        note="what any tool running AWS's runtime client costs at least: relay's design "
        "without relay's work",
    )


# -- measuring ------------------------------------------------------------------------------


def pct(samples: Samples, q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


async def timed(http: Http, raw: bytes, n: int, budget: float = 60.0) -> Samples:
    """Up to `n` sequential calls, stopping after `budget` seconds (slow tools)."""
    samples: Samples = []
    stop_at = time.perf_counter() + budget
    for _ in range(n):
        if samples and time.perf_counter() > stop_at:
            break
        t = time.perf_counter()
        status, _ = await http.send(raw)
        samples.append((time.perf_counter() - t) * 1000)
        if status != 200:
            raise RuntimeError(f"status {status}")
    return samples


async def throughput(
    url: str, raw: bytes, callers: int, seconds: float, sample: Callable[[], None]
) -> tuple[int, float]:
    """(answered requests, seconds) with `callers` kept-alive callers for `seconds`."""
    clients = [Http(url) for _ in range(callers)]
    await asyncio.gather(*(c.send(raw) for c in clients))  # connect and warm each
    done = 0
    stop_at = time.perf_counter() + seconds

    async def caller(client: Http) -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            status, _ = await client.send(raw)
            done += status == 200

    async def sampler() -> None:
        while time.perf_counter() < stop_at:
            await asyncio.to_thread(sample)
            await asyncio.sleep(0.25)

    started = time.perf_counter()
    await asyncio.gather(*(caller(c) for c in clients), sampler())
    elapsed = time.perf_counter() - started
    for c in clients:
        c.close()
    return done, elapsed


async def reload_latency(
    tool: Tool, http: Http, edits: int, deadline: float = 5.0
) -> tuple[Samples, int, int]:
    """Save, then ask at once and until the new code answers; (latencies, stale, never)."""
    assert tool.workdir is not None
    source = tool.workdir / "functions/echo/handler.py"
    text = source.read_text()
    raw = http.request()
    samples: Samples = []
    stale = never = 0
    for edit in range(1, edits + 1):
        await asyncio.sleep(PAUSE)
        version = f"v{edit:04d}"  # same size every time; three saves a second
        new = re.sub(r'VERSION = "v\d{4}"', f'VERSION = "{version}"', text)
        saved = time.perf_counter()
        source.write_text(new)
        first = True
        while True:
            _, body = await http.send(raw)
            if body.startswith(version.encode()):
                samples.append((time.perf_counter() - saved) * 1000)
                break
            stale += first
            first = False
            if time.perf_counter() - saved > deadline:
                never += 1
                break
        if never and not samples:
            break  # this tool does not reload at all; one timed-out edit says so
    return samples, stale, never


def _tree(pid: int) -> list[int]:
    """A process and its descendants."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += children.get(current, [])
    return tree


def tree_cpu_s(pid: int) -> dict[int, float]:
    """User + system CPU seconds of each process of the tree (by pid)."""
    ticks = os.sysconf("SC_CLK_TCK")
    cpu: dict[int, float] = {}
    for current in _tree(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            cpu[current] = (int(fields[11]) + int(fields[12])) / ticks
    return cpu


def tree_memory_mb(pid: int) -> float:
    """Proportional set size (shared pages split fairly) of a process and its descendants."""
    total = 0
    for current in _tree(pid):
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{current}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
    return total / 1024


@dataclass
class Result:
    name: str
    note: str = ""
    ready_s: float | None = None
    ready2_s: float | None = None  # the same command again, in the same folder
    cold_ms: float | None = None
    warm: Samples = field(default_factory=list)
    extra_warm: dict[str, Samples] = field(default_factory=dict)
    payload_ms: dict[str, float] = field(default_factory=dict)
    payload_samples: dict[str, Samples] = field(default_factory=dict)
    rate: dict[int, float] = field(default_factory=dict)
    rest_mb: float | None = None
    load_mb: float | None = None
    #: CPU ms per request of the tool's process tree while serving CPU_CALLERS callers
    cpu_ms: float | None = None
    reload: Samples = field(default_factory=list)
    stale: int | None = None
    never: int | None = None
    edits: int = 0


@dataclass
class Running:
    """A started tool, its result so far and its kept-alive client."""

    tool: Tool
    result: Result
    http: Http
    raw: bytes
    extras: dict[str, tuple[Http, Front]] = field(default_factory=dict)
    requests: dict[int, int] = field(default_factory=dict)
    seconds: dict[int, float] = field(default_factory=dict)
    peak_mb: float = 0.0
    cpu_s: float = 0.0  # the tree's CPU during the CPU_CALLERS throughput figure
    failed: str | None = None


async def start(tool: Tool, workdir: Path) -> Running:
    """Command to ready, then the first call (cold), then a short warm-up of every front."""
    result = Result(tool.name, tool.note)
    result.ready_s = tool.start(workdir)
    http = Http(tool.url(workdir))
    raw = http.request()
    t = time.perf_counter()
    status, _ = await http.send(raw)
    result.cold_ms = (time.perf_counter() - t) * 1000
    if status != 200:
        raise RuntimeError(f"the first call answered {status}")
    running = Running(tool, result, http, raw)
    await timed(http, raw, 20, budget=5)
    for label, make in tool.extra.items():
        try:
            url, method, headers, body = make(workdir)
        except LookupError as exc:
            print(f"skip: {tool.name} through {label}: {exc}")
            continue
        other = Http(url)
        await timed(other, other.request(method=method, body=body, headers=headers), 20, 5)
        running.extras[label] = (other, make)
    return running


async def one_round(running: Running, args: argparse.Namespace, rounds: int) -> None:
    """A slice of every figure, so that all tools see the same machine (interleaved)."""
    result, http, raw = running.result, running.http, running.raw
    n, budget = max(1, args.n // rounds), 20.0 / rounds
    result.warm += await timed(http, raw, n, budget)
    for label, (other, make) in running.extras.items():
        # made again each round: a SigV4 signature is only good for minutes
        _, method, headers, body = make(running.tool.workdir)  # type: ignore[arg-type]
        extra_raw = other.request(method=method, body=body, headers=headers)
        result.extra_warm.setdefault(label, []).extend(await timed(other, extra_raw, n, budget))
    for label, size in SIZES.items():
        count = max(1, n // (50 if size > 1_000_000 else 5))
        samples = await timed(http, http.request(f"size={size}"), count, budget)
        result.payload_samples.setdefault(label, []).extend(samples)
    pid = running.tool.proc.pid  # type: ignore[union-attr]

    def sample() -> None:
        running.peak_mb = max(running.peak_mb, tree_memory_mb(pid))

    for callers in CALLERS:
        before = tree_cpu_s(pid)
        done, elapsed = await throughput(http.url, raw, callers, args.seconds / rounds, sample)
        if callers == CPU_CALLERS:  # processes that ended meanwhile are not counted
            after = tree_cpu_s(pid)
            running.cpu_s += sum(v - before.get(p, 0.0) for p, v in after.items())
        running.requests[callers] = running.requests.get(callers, 0) + done
        running.seconds[callers] = running.seconds.get(callers, 0.0) + elapsed


async def finish(running: Running, args: argparse.Namespace) -> Result:
    result, tool = running.result, running.tool
    for label, samples in result.payload_samples.items():
        result.payload_ms[label] = statistics.median(samples)
    for callers, done in running.requests.items():
        result.rate[callers] = done / running.seconds[callers]
    if running.requests.get(CPU_CALLERS):
        result.cpu_ms = running.cpu_s / running.requests[CPU_CALLERS] * 1000
    result.load_mb = running.peak_mb
    result.rest_mb = tree_memory_mb(tool.proc.pid)  # type: ignore[union-attr]
    if tool.reload:
        result.edits = args.edits
        result.reload, result.stale, result.never = await reload_latency(
            tool, running.http, args.edits
        )
    running.http.close()
    for other, _ in running.extras.values():
        other.close()
    tool.stop()
    assert tool.workdir is not None
    result.ready2_s = tool.start(tool.workdir)  # caches warm: relay skips synthesis
    tool.stop()
    return result


def in_process(n: int) -> Samples:
    sys.path.insert(0, str(APP / "functions/echo"))
    import handler as module  # type: ignore[import-not-found]

    event = {"version": "2.0", "rawPath": "/echo", "queryStringParameters": None}
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        module.handler(event, None)
        samples.append((time.perf_counter() - t) * 1000)
    return samples


def python_lambda_local(workdir: Path, n: int) -> Result | None:
    """python-lambda-local runs one event per command: its figure is the cold invoke."""
    exe = PY_DIR / "bin" / "python-lambda-local"
    if not exe.exists():
        print("skip: python-lambda-local: not installed (run bench/peers.py --setup)")
        return None
    event = workdir / "event.json"
    event.write_text(json.dumps({"size": 0}))
    result = Result(
        "python-lambda-local",
        "no HTTP front and no server: each invoke is one command, so every call is a cold "
        "start and always runs the saved code",
    )
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        done = subprocess.run(
            [str(exe), "-f", "handler", "-t", "30", "functions/echo/handler.py", str(event)],
            cwd=workdir,
            capture_output=True,
            check=False,
            env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        )
        samples.append((time.perf_counter() - t) * 1000)
        if done.returncode != 0 or b"v0000" not in done.stdout + done.stderr:
            print(f"skip: python-lambda-local: failed: {done.stderr.decode()[-300:]}")
            return None
    result.cold_ms = statistics.median(samples)
    return result


# -- reporting ------------------------------------------------------------------------------


def _fmt(value: float | None, unit: str, limit: float | None = None, digits: int = 2) -> str:
    if value is None:
        return "—"
    text = f"{value:,.{digits}f} {unit}".strip()
    if limit:
        ratio = value / limit
        text += f" ({ratio:.0f}x)" if ratio >= 10 else f" ({ratio:.2g}x)"
    return text


def table(results: list[Result], limit: Result, call_us: float) -> str:
    head = ["figure", *(r.name for r in results)]
    lp50, lp99 = statistics.median(limit.warm), pct(limit.warm, 0.99)
    rows: list[list[str]] = []

    def row(label: str, cell: Callable[[Result], str]) -> None:
        rows.append([label, *(cell(r) for r in results)])

    row(
        "warm p50, HTTP front",
        lambda r: _fmt(statistics.median(r.warm), "ms", lp50) if r.warm else "—",
    )
    row("warm p99, HTTP front", lambda r: _fmt(pct(r.warm, 0.99), "ms", lp99) if r.warm else "—")
    extra = sorted({k for r in results for k in r.extra_warm})
    for label in extra:
        row(
            f"warm p50, {label}",
            lambda r, k=label: (
                _fmt(statistics.median(r.extra_warm[k]), "ms", lp50) if k in r.extra_warm else "—"
            ),
        )
    row("cold start (first call)", lambda r: _fmt(r.cold_ms, "ms", limit.cold_ms, 1))
    row("command to ready, first start", lambda r: _fmt(r.ready_s, "s", limit.ready_s))
    row("command to ready, next start", lambda r: _fmt(r.ready2_s, "s", limit.ready2_s))
    for callers in CALLERS:
        row(
            f"throughput, {callers} caller(s)",
            lambda r, c=callers: _fmt(r.rate.get(c), "req/s", limit.rate.get(c), 0),
        )
    for label in SIZES:
        row(
            f"{label} response, p50",
            lambda r, k=label: _fmt(r.payload_ms.get(k), "ms", limit.payload_ms.get(k)),
        )

    def reload(r: Result) -> str:
        if not r.edits:
            return "—"
        if not r.reload:
            return "never (no reload)"
        never = f", never {r.never}/{r.edits}" if r.never else ""
        return (
            f"p50 {statistics.median(r.reload):.1f} / p99 {pct(r.reload, 0.99):.1f} ms, "
            f"stale {r.stale}/{r.edits}{never}"
        )

    row("save to new code", reload)
    row(
        f"CPU per request, {CPU_CALLERS} callers (process tree)",
        lambda r: _fmt(r.cpu_ms, "ms", limit.cpu_ms, 3),
    )
    row("memory at rest (PSS)", lambda r: _fmt(r.rest_mb, "MB", None, 0))
    row("memory under load (PSS)", lambda r: _fmt(r.load_mb, "MB", None, 0))
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines.append("")
    for r in results:
        if r.note:
            lines.append(f"{r.name}: {r.note}.")
    lines.append(
        f"Handler called in-process: p50 {call_us:.1f} µs. "
        "Ratios (Nx) are to the limit column, measured in the same run."
    )
    return "\n".join(lines)


def plot(results: list[Result], path: Path, subtitle: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5))
    with_warm = [r for r in results if r.warm]
    left.boxplot(
        [r.warm for r in with_warm],
        orientation="horizontal",
        showfliers=True,
        whis=(1, 99),
        flierprops={"markersize": 2},
    )
    left.set_yticks(range(1, len(with_warm) + 1), [r.name for r in with_warm])
    left.set_xscale("log")
    left.set_xlabel("warm request latency through the HTTP front, ms (log; whiskers p1-p99)")
    left.set_title("Warm latency, one caller")
    with_reload = [r for r in results if r.reload]
    if with_reload:
        right.boxplot(
            [r.reload for r in with_reload],
            orientation="horizontal",
            whis=(1, 99),
            flierprops={"markersize": 2},
        )
        right.set_yticks(
            range(1, len(with_reload) + 1),
            [
                f"{r.name}\nstale {r.stale}/{r.edits}"
                + (f", new code never seen in {r.never}" if r.never else "")
                for r in with_reload
            ],
        )
        right.set_xscale("log")
    never = [r.name for r in results if r.edits and not r.reload]
    if never:
        right.text(0.02, 0.02, "never reloaded: " + ", ".join(never), transform=right.transAxes,
                   fontsize=8)  # fmt: skip
    right.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    right.set_xlabel("save → first response from the new code, ms (log)")
    right.set_title("Reload latency per save")
    fig.suptitle(subtitle, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


# -- main -----------------------------------------------------------------------------------


def tools(args: argparse.Namespace) -> list[Tool]:
    chosen = [limit_tool(), floor_tool(), relay_tool("relay start --local")]
    if relay_has_flag("--via-stub"):
        chosen.append(
            relay_tool("relay --via-stub", "--via-stub", note="the full stub + WebSocket path")
        )
    if (NPM_DIR / "node_modules/serverless-offline").is_dir():
        chosen.append(
            serverless_tool(
                "serverless-offline",
                reload=True,
                note="serverless-offline 13 on Serverless Framework 3, `httpApi` route; without "
                "--reloadHandler it keeps serving the code it loaded first",
            )
        )
        chosen.append(
            serverless_tool("serverless-offline --reloadHandler", "--reloadHandler", reload=True)
        )
    else:
        print("skip: serverless-offline: not installed (run bench/peers.py --setup)")
    if not docker_available():
        print("skip: AWS SAM CLI (sam local start-api): needs Docker, not available here")
    elif not (PY_DIR / "bin" / "sam").exists():
        print("skip: AWS SAM CLI: not installed (run bench/peers.py --setup)")
    else:
        chosen.append(sam_tool())
    if args.only:
        chosen = [
            t for t in chosen if t.name == chosen[0].name or any(o in t.name for o in args.only)
        ]
    return chosen


def relay_has_flag(flag: str) -> bool:
    done = subprocess.run(
        [sys.executable, "-m", "relay", "start", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    return flag in done.stdout


def prepare(workdir: Path) -> Path:
    shutil.copytree(APP, workdir, ignore=shutil.ignore_patterns("__pycache__", ".relay"))
    if (NPM_DIR / "node_modules").is_dir():
        (workdir / "node_modules").symlink_to(NPM_DIR / "node_modules")
    return workdir


async def run(args: argparse.Namespace) -> int:
    results: list[Result] = []
    call = in_process(10_000)
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as temp:
        chosen = tools(args)
        running: list[Running] = []
        try:
            for index, tool in enumerate(chosen):
                print(f"starting {tool.name} …", flush=True)
                try:
                    running.append(await start(tool, prepare(Path(temp) / f"t{index}")))
                except Exception as exc:
                    tool.stop()
                    print(f"skip: {tool.name}: {exc}")
            for r in range(args.rounds):
                print(f"round {r + 1}/{args.rounds} …", flush=True)
                order = running[r % len(running) :] + running[: r % len(running)]
                for each in order:
                    if each.failed is None:
                        try:
                            await one_round(each, args, args.rounds)
                        except Exception as exc:  # one tool failing must not end the run
                            each.failed = f"{type(exc).__name__}: {exc}"
                            print(f"skip: {each.tool.name}: failed in round {r + 1}: {exc}")
            await asyncio.sleep(1.0)  # at rest
            for each in running:
                if each.failed is not None:
                    continue
                print(f"reload and memory: {each.tool.name} …", flush=True)
                try:
                    results.append(await finish(each, args))
                except Exception as exc:
                    print(f"skip: {each.tool.name}: failed at the end: {exc}")
        finally:
            for each in running:
                each.tool.stop()
        if not args.only or "python-lambda-local" in args.only:
            local = python_lambda_local(prepare(Path(temp) / "pll"), max(3, args.n // 50))
            if local is not None:
                results.append(local)
    if not results or not results[0].name.startswith("limit"):
        print("the limit could not be measured; no ratios", file=sys.stderr)
        return 1
    document = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Linux {platform.release()}",
        "load_end": os.getloadavg()[0],
        "call_p50_us": statistics.median(call) * 1000,
        "n": args.n,
        "seconds": args.seconds,
        "results": [r.__dict__ for r in results],
    }
    (args.out / "peers.json").write_text(json.dumps(document, indent=1, default=str))
    report(document, args)
    return 0


def report(document: dict[str, Any], args: argparse.Namespace) -> None:
    """Print the table and draw the plot of one run (also from a saved peers.json)."""
    results = []
    for data in document["results"]:
        data = {**data, "rate": {int(k): v for k, v in data.get("rate", {}).items()}}
        results.append(Result(**data))
    stamp, machine = document["date"], document["machine"]
    print()
    print(
        f"{stamp}; {machine}; load at end {document.get('load_end', float('nan')):.1f}; "
        f"n={document['n']}, {document['seconds']} s per rate"
    )
    print(table(results, results[0], document.get("call_p50_us", float("nan"))))
    for name, figure, source in PUBLISHED:
        print(f"published, not measured here: {name}: {figure} ({source})")
    if not args.no_plot:
        png = args.out / "peers.png"
        plot(results, png, f"relay and peers, same handler, one run: {stamp}, {machine}")
        print(f"\nwrote {png}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--setup", action="store_true", help="install the peers and stop")
    parser.add_argument("--quick", action="store_true", help="small counts (development)")
    parser.add_argument("--n", type=int, default=1000, help="warm requests per tool")
    parser.add_argument("--seconds", type=float, default=3.0, help="per throughput figure")
    parser.add_argument("--edits", type=int, default=50, help="saves in the reload figure")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the tools")
    parser.add_argument("--only", nargs="*", help="tools whose name contains one of these")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--report", type=Path, help="table and plot from a saved peers.json")
    parser.add_argument("--limit-server", nargs=1, help=argparse.SUPPRESS)
    parser.add_argument("--runtime-floor", nargs=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.limit_server:
        serve_limit(Path.cwd() / "functions/echo", Path.cwd() / args.limit_server[0])
        return 0
    if args.runtime_floor:
        import runtime_floor

        runtime_floor.main(Path.cwd() / "functions/echo", Path.cwd() / args.runtime_floor[0])
        return 0
    if args.setup:
        return setup()
    if args.report:
        args.out.mkdir(parents=True, exist_ok=True)
        report(json.loads(args.report.read_text()), args)
        return 0
    if args.quick:
        args.n, args.seconds, args.edits, args.rounds = 100, 1.0, 5, 2
    args.out.mkdir(parents=True, exist_ok=True)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
