"""Breakpoints in handlers, through relay's LocalRuntime under debugpy, driven by a DAP client.

Each test runs a relay main process (host.py: enable() + LocalRuntime(debug=...)) and attaches
the way VS Code's "Attach to relay" does, following every worker debugpy announces.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tests.debug.dap_client import TIMEOUT, DapClient

FIXTURE = Path(__file__).with_name("fixtures") / "greeter"


def _code(tmp_path: Path) -> tuple[Path, Path]:
    code = tmp_path / "greeter"
    shutil.copytree(FIXTURE, code)
    code = code.resolve()
    return code, code / "app.py"


def _line(path: Path, text: str) -> int:
    """1-based number of the only line of `path` that contains `text`."""
    lines = [n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    assert len(lines) == 1, lines
    return lines[0]


def _attach(port: int | None, app: Path, line: int, clients: list[DapClient]) -> DapClient:
    assert port is not None
    client = DapClient("127.0.0.1", port, {app: [line]}, timeout=TIMEOUT)
    clients.append(client)
    client.attach()
    return client


def test_breakpoint_is_hit_with_the_event_in_a_worker_warm_before_attach(
    debug_host, dap_clients, tmp_path
):
    code, app = _code(tmp_path)
    host = debug_host()
    host.configure("greeter", code)
    warm = host.result(host.invoke("greeter", {"name": "before"}))  # no debugger: no wait
    assert warm["payload"]["greeting"] == "hello before"
    line = _line(app, "return {")
    client = _attach(host.debug_port, app, line, dap_clients)

    # Sent the moment the root session is configured, to the warm worker whose own session
    # the client is still setting up: it must wait for it rather than run past the breakpoint.
    ident = host.invoke("greeter", {"name": "ada", "n": 1})
    stop = client.wait_for_stop()
    frame = client.top_frame(stop)
    assert stop.reason == "breakpoint"
    assert (frame["source"]["path"], frame["line"]) == (str(app), line)
    variables = client.local_variables(stop, frame["id"])
    assert variables["event"]["value"] == "{'name': 'ada', 'n': 1}"
    assert variables["greeting"]["value"] == "'hello ada'"
    assert client.evaluate(stop, frame["id"], "context.function_name") == "'greeter'"
    assert stop.session.pid is not None and client.verified[stop.session.pid][0]["verified"]

    client.resume(stop)
    result = host.result(ident)
    assert result["error"] is None
    assert result["payload"]["greeting"] == "hello ada"
    assert result["payload"]["debug_modules"] > 0  # the worker really ran under debugpy
    assert re.fullmatch(r"127\.0\.0\.1:\d+", result["payload"]["relay_debug"])


def test_breakpoint_survives_hot_reload_and_is_hit_at_the_new_line(
    debug_host, dap_clients, tmp_path
):
    code, app = _code(tmp_path)
    host = debug_host()
    host.configure("greeter", code)
    line = _line(app, "return {")
    client = _attach(host.debug_port, app, line, dap_clients)
    ident = host.invoke("greeter", {"name": "ada"})
    first = client.wait_for_stop()
    assert client.top_frame(first)["line"] == line
    client.resume(first)
    assert host.result(ident)["payload"]["greeting"] == "hello ada"

    # The edit moves the return line down by two and changes what the handler computes.
    source = app.read_text()
    app.write_text(
        source.replace(
            "    greeting = f\"hello {event['name']}\"\n",
            "    version = 2\n"
            "    # edited while relay was running\n"
            "    greeting = f\"hi {event['name']} v{version}\"\n",
        )
    )
    new_line = _line(app, "return {")
    assert new_line == line + 2
    host.wait_reload("greeter")  # relay has seen the save: no invocation runs the old code
    client.set_breakpoints(app, [new_line])  # what VS Code does when lines move in the editor

    ident = host.invoke("greeter", {"name": "grace"})
    stop = client.wait_for_stop()
    frame = client.top_frame(stop)
    assert stop.session.pid != first.session.pid  # a new worker: a new child session
    assert (frame["source"]["path"], frame["line"]) == (str(app), new_line)
    variables = client.local_variables(stop, frame["id"])
    assert variables["version"]["value"] == "2"
    assert variables["greeting"]["value"] == "'hi grace v2'"
    assert variables["event"]["value"] == "{'name': 'grace'}"
    client.resume(stop)
    assert host.result(ident)["payload"]["greeting"] == "hi grace v2"


def test_wait_for_debugger_holds_an_invocation_until_a_debugger_is_attached(
    debug_host, dap_clients, tmp_path
):
    code, app = _code(tmp_path)
    host = debug_host("--wait-for-debugger")
    host.configure("greeter", code)
    ident = host.invoke("greeter", {"name": "early"})  # before any debugger exists
    # START is logged when the worker has received the invocation: it is held there.
    host.wait_for_log("START RequestId")

    line = _line(app, "return {")
    client = _attach(host.debug_port, app, line, dap_clients)
    # Had it not been held, it would have finished long ago without stopping.
    stop = client.wait_for_stop()
    frame = client.top_frame(stop)
    assert frame["line"] == line
    assert client.local_variables(stop, frame["id"])["event"]["value"] == "{'name': 'early'}"
    client.resume(stop)
    assert host.result(ident)["payload"]["greeting"] == "hello early"


def test_debug_mode_without_a_debugger_attached_never_waits(debug_host, tmp_path):
    code, _ = _code(tmp_path)
    host = debug_host()
    host.configure("greeter", code)
    for name in ("one", "two"):
        result = host.result(host.invoke("greeter", {"name": name}))
        assert result["error"] is None
        assert result["payload"]["greeting"] == f"hello {name}"
        assert result["payload"]["debug_modules"] > 0


def test_debug_off_imports_nothing_of_debugpy_in_workers(debug_host, tmp_path):
    code, _ = _code(tmp_path)
    host = debug_host("--debug", "off")
    host.configure("greeter", code)
    result = host.result(host.invoke("greeter", {"name": "plain"}))
    assert result["payload"] == {"greeting": "hello plain", "debug_modules": 0, "relay_debug": None}


def test_detach_then_attach_again(debug_host, dap_clients, tmp_path):
    code, app = _code(tmp_path)
    host = debug_host()
    host.configure("greeter", code)
    line = _line(app, "return {")
    first = _attach(host.debug_port, app, line, dap_clients)
    ident = host.invoke("greeter", {"name": "one"})
    first.resume(first.wait_for_stop())
    assert host.result(ident)["payload"]["greeting"] == "hello one"

    first.close()  # "Disconnect": invocations run straight through again, without waiting
    assert host.result(host.invoke("greeter", {"name": "free"}))["payload"]["greeting"] == (
        "hello free"
    )

    second = _attach(host.debug_port, app, line, dap_clients)
    ident = host.invoke("greeter", {"name": "two"})
    stop = second.wait_for_stop()
    frame = second.top_frame(stop)
    assert frame["line"] == line
    assert second.local_variables(stop, frame["id"])["event"]["value"] == "{'name': 'two'}"
    second.resume(stop)
    assert host.result(ident)["payload"]["greeting"] == "hello two"
