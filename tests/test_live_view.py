"""What `relay start` prints: construct paths, status, duration, logs — never markup leaks."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console

from relay.client import InvocationEvent
from relay.live_view import LiveView


def _view() -> tuple[LiveView, Console]:
    console = Console(record=True, width=200, force_terminal=False, color_system=None)
    view = LiveView(console)
    view.name_functions({"app-dev-Greeting7772-E794": "app-dev/Greeting"})
    return view, console


def test_invocations_show_the_construct_path_status_and_duration() -> None:
    view, console = _view()
    view.event(
        InvocationEvent(
            function="app-dev-Greeting7772-E794",
            request_id="r1",
            invocation_id="i1",
            status="ok",
            duration_ms=3.25,
        )
    )
    view.event(
        InvocationEvent(
            function="app-dev-Greeting7772-E794",
            request_id="r2",
            invocation_id="i2",
            status="error",
            duration_ms=1.0,
            error_type="ValueError",
        )
    )
    lines = console.export_text().splitlines()
    assert lines[0].endswith("app-dev/Greeting ok 3.2 ms")
    assert lines[1].endswith("app-dev/Greeting error 1.0 ms ValueError")


def test_log_lines_are_printed_verbatim_even_with_markup_characters() -> None:
    view, console = _view()
    view.log("app-dev-Greeting7772-E794", "r1", "[ERROR] bad [bold]thing[/bold]\n")
    view.log("app-dev-Greeting7772-E794", "r1", "\n")  # blank lines are dropped
    assert console.export_text() == "  app-dev/Greeting │ [ERROR] bad [bold]thing[/bold]\n"


def test_ready_lists_functions_urls_and_what_is_not_relayed() -> None:
    @dataclass
    class Fn:
        path: str
        handler: str
        function_url: str | None

    view, console = _view()
    view.ready(
        "alice",
        "local",
        [Fn("app/Web", "web.handler", "http://127.0.0.1:9/"), Fn("app/Job", "job.run", None)],
        [("app/Audit", "runtime nodejs22.x: relay runs Python handlers only")],
    )
    assert console.export_text().splitlines() == [
        "relay: ready — stage alice is live on the embedded emulator; 2 function(s) run here."
        " Ctrl-C to stop.",
        "  app/Web → web.handler  http://127.0.0.1:9/",
        "  app/Job → job.run",
        "  app/Audit: not relayed (runtime nodejs22.x: relay runs Python handlers only)",
    ]
