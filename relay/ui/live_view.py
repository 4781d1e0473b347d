"""What `relay start` shows: one line per invocation, its logs, and clear status lines.

Rendering lives here so the client and the runtime stay free of terminal concerns. Logs are
the handler's own output; relay never prints environment values or credentials.

Invocation and log lines are the hot path (four or five per invocation): rich's renderer
costs 150-350 µs a line and each print is a blocking write on the event loop, which capped
`relay start` at ~160 invocations/s whatever the number of callers. Those lines are therefore
styled with escape codes computed once per style, and written in frames (``FRAME_S``) by a
writer thread, so a slow terminal never stalls the loop and the loop does not wake the
writer per line; status lines still go through rich, after
everything queued before them.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rich.color import ColorSystem
from rich.console import Console
from rich.control import strip_control_codes
from rich.markup import escape
from rich.style import Style

if TYPE_CHECKING:
    from relay.client import InvocationEvent


class LiveView:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False, soft_wrap=True)
        self._lock = threading.Lock()  # the queue; held only for an append or a swap
        self._write_lock = threading.Lock()  # the output, so lines never interleave
        self._wake = threading.Condition(self._lock)
        self._pending: list[str] = []
        self._writer: threading.Thread | None = None
        self._names: dict[str, str] = {}
        self._styles: dict[str, tuple[str, str]] = {}
        # what every line of a function or status starts with, painted once (per second for
        # the time): these lines are written from the serving loop, five per invocation
        self._painted_names: dict[str, str] = {}
        self._prefixes: dict[str, tuple[str, int]] = {}
        self._statuses: dict[str, str] = {}
        self._clock: tuple[int, str] = (-1, "")

    def name_functions(self, names: dict[str, str]) -> None:
        """Show construct paths (what the developer wrote), not generated function names."""
        self._names = dict(names)
        self._painted_names, self._prefixes = {}, {}

    # -- status lines -------------------------------------------------------------------

    def info(self, message: str) -> None:
        self._print(f"[dim]relay:[/] {escape(message)}")

    def warn(self, message: str) -> None:
        self._print(f"[yellow]relay: warning:[/] {escape(message)}")

    def error(self, message: str) -> None:
        self._print(f"[red]relay: error:[/] {escape(message)}")

    @contextlib.contextmanager
    def status(self, message: str) -> Iterator[None]:
        started = time.perf_counter()
        if self.console.is_terminal:
            with self.console.status(escape(message) + " …"):
                yield
        else:
            self.info(message + " …")
            yield
        self.info(f"{message}: done in {time.perf_counter() - started:.1f} s")

    def ready(
        self,
        stage: str,
        mode: str,
        functions: list[Any],
        not_relayed: list[tuple[str, str]] | None = None,
    ) -> None:
        where = "the embedded emulator" if mode == "local" else "AWS"
        self._print(
            f"[bold green]relay: ready[/] — stage [bold]{escape(stage)}[/] is live on {where}; "
            f"{len(functions)} function(s) run here. Ctrl-C to stop."
        )
        for fn in functions:
            url = f"  {fn.function_url}" if fn.function_url else ""
            self._print(f"  [cyan]{escape(fn.path)}[/] → {escape(fn.handler)}{escape(url)}")
        for path, reason in not_relayed or []:
            self._print(f"  [dim]{escape(path)}: not relayed ({escape(reason)})[/]")

    # -- invocations --------------------------------------------------------------------

    def event(self, event: InvocationEvent) -> None:
        """One invocation's state (running, ok, error, relay-error), from the client."""
        name = self._painted_names.get(event.function)
        if name is None:
            plain = strip_control_codes(self._names.get(event.function, event.function))
            name = self._painted_names[event.function] = self._paint(plain, "cyan")
        status = self._statuses.get(event.status)
        if status is None:
            colour = "green" if event.status == "ok" else "red"
            status = self._paint(strip_control_codes(event.status), colour)
            self._statuses[event.status] = status
        took = f" {event.duration_ms:.1f} ms" if event.duration_ms is not None else ""
        detail = ""
        if event.error_type and event.status != "ok":
            detail = " " + strip_control_codes(event.error_type)
        self._line(f"{self._stamp()} {name} {status}{took}{detail}")

    def log(self, function: str, request_id: str, line: str) -> None:  # noqa: ARG002 (on_log)
        """A line of a handler's output, as CloudWatch would show it."""
        text = line.rstrip("\n")
        if text:
            prefix = self._prefixes.get(function)
            if prefix is None:
                plain = f"  {strip_control_codes(self._names.get(function, function))} │"
                prefix = self._prefixes[function] = (self._paint(plain, "dim"), len(plain) + 1)
            painted, offset = prefix
            text = strip_control_codes(text)
            if "\t" in text:  # tabs expand from the start of the printed line, as rich's do
                text = (" " * offset + text).expandtabs(8)[offset:]
            self._line(f"{painted} {text}")

    def flush(self) -> None:
        """Write every queued line now (before a status line, at exit, in tests)."""
        with self._write_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            self._write(batch)

    # -- output -------------------------------------------------------------------------

    def _stamp(self) -> str:
        """The time of day, painted (again only when the second changes)."""
        now = int(time.time())
        second, painted = self._clock
        if now != second:
            painted = self._paint(time.strftime("%H:%M:%S", time.localtime(now)), "dim")
            self._clock = (now, painted)
        return painted

    def _paint(self, text: str, style: str) -> str:
        codes = self._styles.get(style)
        if codes is None:
            system = None if self.console.no_color else self.console.color_system
            rendered = Style.parse(style).render(
                "\0", color_system=_COLOR_SYSTEMS.get(system or "")
            )
            before, _, after = rendered.partition("\0")
            codes = self._styles[style] = (before, after)
        return f"{codes[0]}{text}{codes[1]}"

    def _line(self, text: str) -> None:
        with self._lock:
            self._pending.append(text)
            first = len(self._pending) == 1
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_forever, name="relay-live-view", daemon=True
                )
                self._writer.start()
            if first:  # later lines of the frame join it without waking anyone
                self._wake.notify()

    def _write_forever(self) -> None:
        while True:
            with self._lock:
                while not self._pending:
                    self._wake.wait()
            time.sleep(FRAME_S)  # let the frame's lines gather: one wake-up and write each
            self.flush()

    def _write(self, batch: list[str]) -> None:
        if batch:
            with contextlib.suppress(OSError, ValueError):  # a closed terminal or pipe
                self.console.file.write("\n".join(batch) + "\n")
                self.console.file.flush()

    def _print(self, markup: str) -> None:
        with self._write_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            self._write(batch)
            self.console.print(markup)


#: How long the writer lets lines gather before writing them (~30 frames a second). Waking
#: a second thread per line made it fight the event loop for the GIL: ~90 µs of CPU per
#: invocation at 8 callers, against ~10 µs in frames (bench/bench_scaling.py).
FRAME_S = 0.03

_COLOR_SYSTEMS = {
    "standard": ColorSystem.STANDARD,
    "256": ColorSystem.EIGHT_BIT,
    "truecolor": ColorSystem.TRUECOLOR,
    "windows": ColorSystem.WINDOWS,
}
