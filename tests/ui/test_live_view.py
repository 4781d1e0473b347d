"""What `relay start` prints: construct paths, status, duration, logs — never markup leaks."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

from rich.console import Console

from relay.client import InvocationEvent
from relay.ui.live_view import LiveView


class _Output:
    """What a person would read: the console's file after everything queued was written."""

    def __init__(self, view: LiveView, file: io.StringIO) -> None:
        self.view, self.file = view, file

    def export_text(self) -> str:
        self.view.flush()
        return self.file.getvalue()


def _view(terminal: bool = False) -> tuple[LiveView, _Output]:
    file = io.StringIO()
    console = Console(
        file=file,
        width=200,
        force_terminal=terminal,
        color_system="standard" if terminal else None,
        highlight=False,
        soft_wrap=True,
    )
    view = LiveView(console)
    view.name_functions({"app-dev-Greeting7772-E794": "app-dev/Greeting"})
    return view, _Output(view, file)


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


def test_on_a_terminal_lines_are_styled_as_rich_would_style_them() -> None:
    view, output = _view(terminal=True)
    before = time.strftime("%H:%M:%S")
    view.event(InvocationEvent("app-dev-Greeting7772-E794", "r1", "i1", "ok", 3.25))
    view.log("app-dev-Greeting7772-E794", "r1", "hello")
    lines = output.export_text().splitlines()
    stamp = lines[0][4:12]
    assert before <= stamp <= time.strftime("%H:%M:%S")
    assert lines == [
        f"\x1b[2m{stamp}\x1b[0m \x1b[36mapp-dev/Greeting\x1b[0m \x1b[32mok\x1b[0m 3.2 ms",
        "\x1b[2m  app-dev/Greeting │\x1b[0m hello",
    ]


def test_log_lines_lose_control_codes_and_expand_tabs_from_the_line_start() -> None:
    view, output = _view()
    view.log("app-dev-Greeting7772-E794", "r1", "a\tb\x07\x08c\n")
    # "  app-dev/Greeting │ a" is 22 columns: the tab stops at 24
    assert output.export_text() == "  app-dev/Greeting │ a  bc\n"


def test_queued_lines_come_before_a_later_status_line_and_are_written_without_a_flush() -> None:
    view, output = _view()
    for n in range(50):
        view.log("app-dev-Greeting7772-E794", "r1", f"line {n}")
    view.info("stopping")
    lines = output.file.getvalue().splitlines()
    assert lines == [f"  app-dev/Greeting │ line {n}" for n in range(50)] + ["relay: stopping"]
    view.log("app-dev-Greeting7772-E794", "r1", "written by the writer thread")
    deadline = time.monotonic() + 10
    while "writer thread" not in output.file.getvalue():
        assert time.monotonic() < deadline, "the writer thread never wrote the queued line"
        time.sleep(0.01)


def test_lines_follow_function_names_given_later() -> None:
    view, output = _view()
    view.event(InvocationEvent("app-dev-Other-1A2B", "r1", "i1", "running"))
    view.log("app-dev-Other-1A2B", "r1", "before")
    view.name_functions({"app-dev-Other-1A2B": "app-dev/Other"})
    view.event(InvocationEvent("app-dev-Other-1A2B", "r1", "i1", "ok", 2.0))
    view.log("app-dev-Other-1A2B", "r1", "after")
    lines = [line[9:] if line[:2].isdigit() else line for line in output.export_text().splitlines()]
    assert lines == [
        "app-dev-Other-1A2B running",
        "  app-dev-Other-1A2B │ before",
        "app-dev/Other ok 2.0 ms",
        "  app-dev/Other │ after",
    ]
