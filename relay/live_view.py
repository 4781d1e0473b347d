"""What `relay start` shows: one line per invocation, its logs, and clear status lines.

Rendering lives here so the client and the runtime stay free of terminal concerns. Logs are
the handler's own output; relay never prints environment values or credentials.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from relay.client import InvocationEvent


class LiveView:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False, soft_wrap=True)
        self._lock = threading.Lock()
        self._names: dict[str, str] = {}

    def name_functions(self, names: dict[str, str]) -> None:
        """Show construct paths (what the developer wrote), not generated function names."""
        self._names = dict(names)

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
        name = self._names.get(event.function, event.function)
        colour = "green" if event.status == "ok" else "red"
        took = f" {event.duration_ms:.1f} ms" if event.duration_ms is not None else ""
        detail = f" {escape(event.error_type)}" if event.error_type and event.status != "ok" else ""
        stamp = time.strftime("%H:%M:%S")
        self._print(
            f"[dim]{stamp}[/] [cyan]{escape(name)}[/] [{colour}]{escape(event.status)}[/]"
            f"{took}{detail}"
        )

    def log(self, function: str, request_id: str, line: str) -> None:
        """A line of a handler's output, as CloudWatch would show it."""
        text = line.rstrip("\n")
        if text:
            name = self._names.get(function, function)
            self._print(f"[dim]  {escape(name)} │[/] {escape(text)}")

    def _print(self, markup: str) -> None:
        with self._lock:
            self.console.print(markup)
