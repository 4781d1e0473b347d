"""A small Debug Adapter Protocol client, enough to drive debugpy the way VS Code does.

The tests need to prove that a real DAP client stops at breakpoints in relay's workers, which
are sub-processes of the process debugpy listens in. debugpy announces each of them with a
`startDebugging` reverse request; like VS Code, this client answers it by opening one more
connection per child, attaching with the configuration it was given and sending the
breakpoints again. Threads (one reader per connection) keep it usable from sync and async tests.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Message = dict[str, Any]
TIMEOUT = 60.0  # the tests' failure guard; every wait ends on an event long before it


class DapError(RuntimeError):
    """A request the adapter answered with success=false, or that timed out."""


@dataclass
class Stop:
    """A `stopped` event, with the session (process) that reported it."""

    session: DapSession
    thread_id: int
    reason: str


class DapSession:
    """One connection to the adapter = one debug session (the root, or one child process)."""

    def __init__(
        self, host: str, port: int, *, name: str, pid: int | None = None, timeout: float = 30.0
    ) -> None:
        self.name = name
        self.pid = pid  # the child's process id; None for the root session
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(None)
        self._seq = itertools.count(1)
        self._send_lock = threading.Lock()
        self._cond = threading.Condition()
        self._responses: dict[int, Message] = {}
        self.events: list[Message] = []
        self.closed = False
        self.configured = False  # configurationDone answered
        self.on_reverse_request: Callable[[DapSession, Message], None] | None = None
        self.on_event: Callable[[DapSession, Message], None] | None = None
        self._reader = threading.Thread(target=self._read_loop, name=f"dap-{name}", daemon=True)
        self._reader.start()

    # -- wire -------------------------------------------------------------------------------

    def _write(self, message: Message) -> None:
        body = json.dumps(message).encode()
        with self._send_lock:
            self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def _read_message(self, stream: Any) -> Message | None:
        length = None
        while True:
            line = stream.readline()
            if not line:
                return None
            line = line.strip()
            if not line:
                break
            key, _, value = line.partition(b":")
            if key.strip().lower() == b"content-length":
                length = int(value.strip())
        if length is None:
            raise DapError(f"{self.name}: message without Content-Length")
        return json.loads(stream.read(length))

    def _read_loop(self) -> None:
        stream = self.sock.makefile("rb")
        try:
            while True:
                message = self._read_message(stream)
                if message is None:
                    break
                kind = message.get("type")
                if kind == "response":
                    with self._cond:
                        self._responses[message["request_seq"]] = message
                        self._cond.notify_all()
                elif kind == "event":
                    with self._cond:
                        self.events.append(message)
                        self._cond.notify_all()
                    if self.on_event is not None:
                        self.on_event(self, message)
                elif kind == "request" and self.on_reverse_request is not None:
                    self.on_reverse_request(self, message)
        except (OSError, ValueError):
            pass
        finally:
            with self._cond:
                self.closed = True
                self._cond.notify_all()

    # -- requests ---------------------------------------------------------------------------

    def send(self, command: str, arguments: Message | None = None) -> int:
        """Send a request without waiting; returns its seq for `response()`."""
        seq = next(self._seq)
        message: Message = {"seq": seq, "type": "request", "command": command}
        if arguments is not None:
            message["arguments"] = arguments
        self._write(message)
        return seq

    def respond(self, request: Message, body: Message | None = None) -> None:
        """Answer a reverse request from the adapter."""
        self._write(
            {
                "seq": next(self._seq),
                "type": "response",
                "request_seq": request["seq"],
                "command": request["command"],
                "success": True,
                "body": body or {},
            }
        )

    def response(self, seq: int, timeout: float | None = None) -> Message:
        """Wait for the response to request `seq`; raise DapError if it failed."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: seq in self._responses or self.closed, timeout or self.timeout
            )
            message = self._responses.pop(seq, None)
        if message is None:
            state = "closed the connection" if ok else "did not answer in time"
            raise DapError(f"{self.name}: the adapter {state} (request {seq})")
        if not message.get("success"):
            raise DapError(f"{self.name}: {message['command']} failed: {message.get('message')}")
        return message.get("body") or {}

    def request(self, command: str, arguments: Message | None = None) -> Message:
        return self.response(self.send(command, arguments))

    def wait_for_event(
        self,
        event: str,
        predicate: Callable[[Message], bool] = lambda _: True,
        timeout: float | None = None,
        *,
        since: int = 0,
    ) -> Message:
        """Wait for an event named `event` (at index >= since in `events`) matching predicate."""

        def find() -> Message | None:
            for message in self.events[since:]:
                if message.get("event") == event and predicate(message):
                    return message
            return None

        with self._cond:
            self._cond.wait_for(lambda: find() is not None or self.closed, timeout or self.timeout)
            found = find()
        if found is None:
            raise DapError(f"{self.name}: no '{event}' event")
        return found

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._reader.join(timeout=5)


@dataclass
class DapClient:
    """Attaches to a debugpy adapter and follows every child process it announces.

    `breakpoints` maps source files to line numbers; they are sent to the root session and
    again to every child session, as VS Code does.
    """

    host: str
    port: int
    breakpoints: dict[Path, list[int]] = field(default_factory=dict)
    timeout: float = 30.0
    sessions: list[DapSession] = field(default_factory=list)
    children: dict[int, DapSession] = field(default_factory=dict)  # pid -> configured session
    verified: dict[int, list[Message]] = field(default_factory=dict)  # pid -> setBreakpoints
    errors: list[BaseException] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._stops: list[Stop] = []
        self._threads: list[threading.Thread] = []

    # -- attaching --------------------------------------------------------------------------

    def attach(self) -> DapSession:
        """Attach to the root process (the one that called debugpy.listen)."""
        return self._attach({"connect": {"host": self.host, "port": self.port}}, "root")

    def launch(self, configuration: Message) -> DapSession:
        """Have the adapter launch the root process, as VS Code's F5 on a launch config."""
        return self._attach(configuration, "root", request="launch")

    def _attach(self, configuration: Message, name: str, request: str = "attach") -> DapSession:
        pid = configuration.get("subProcessId")
        session = DapSession(
            self.host,
            self.port,
            name=name,
            pid=pid if isinstance(pid, int) else None,
            timeout=self.timeout,
        )
        session.on_reverse_request = self._on_reverse_request
        session.on_event = self._on_event
        with self._cond:
            self.sessions.append(session)
        session.request(
            "initialize",
            {
                "clientID": "relay-tests",
                "adapterID": "debugpy",
                "pathFormat": "path",
                "linesStartAt1": True,
                "columnsStartAt1": True,
                "supportsStartDebuggingRequest": True,
                "supportsRunInTerminalRequest": False,
            },
        )
        arguments = {
            "name": name,
            "type": "debugpy",
            "justMyCode": True,
            **configuration,
            "request": request,
        }
        # debugpy answers attach/launch only after configurationDone: send it and move on.
        attach_seq = session.send(request, arguments)
        session.wait_for_event("initialized")
        with self._cond:
            sent = {path: list(lines) for path, lines in self.breakpoints.items()}
        results: list[Message] = []
        for path, lines in sent.items():
            results.extend(self._set_breakpoints(session, path, lines))
        session.request("configurationDone")
        session.response(attach_seq)
        with self._cond:
            session.configured = True
            # set_breakpoints() skips sessions still being configured: catch up with it.
            stale = {p: lines for p, lines in self.breakpoints.items() if sent.get(p) != lines}
        for path, lines in stale.items():
            results = self._set_breakpoints(session, path, lines)
        with self._cond:
            if isinstance(pid, int):
                self.children[pid] = session
                self.verified[pid] = results
            self._cond.notify_all()
        return session

    def _on_reverse_request(self, session: DapSession, request: Message) -> None:
        if request["command"] != "startDebugging":
            return
        session.respond(request)
        configuration = dict(request["arguments"]["configuration"])
        name = configuration.get("name", "child")

        def follow() -> None:
            try:
                self._attach(configuration, name)
            except BaseException as exc:  # reported by wait helpers, never swallowed
                with self._cond:
                    self.errors.append(exc)
                    self._cond.notify_all()

        thread = threading.Thread(target=follow, name=f"dap-follow-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _on_event(self, session: DapSession, event: Message) -> None:
        if event.get("event") == "stopped":
            body = event["body"]
            with self._cond:
                self._stops.append(Stop(session, body["threadId"], body.get("reason", "")))
                self._cond.notify_all()

    # -- breakpoints ------------------------------------------------------------------------

    def set_breakpoints(self, path: Path, lines: list[int]) -> None:
        """Replace the breakpoints of one file in every session, and in sessions to come."""
        with self._cond:
            self.breakpoints[path] = list(lines)
            sessions = [s for s in self.sessions if s.configured and not s.closed]
        for session in sessions:
            try:
                self._set_breakpoints(session, path, lines)
            except DapError:
                if session.pid is None:
                    raise
                # A retired worker (hot reload) ends its session; VS Code skips it too.

    @staticmethod
    def _set_breakpoints(session: DapSession, path: Path, lines: Iterable[int]) -> list[Message]:
        body = session.request(
            "setBreakpoints",
            {
                "source": {"path": str(path)},
                "breakpoints": [{"line": line} for line in lines],
                "lines": list(lines),
            },
        )
        return list(body.get("breakpoints", []))

    # -- waiting ----------------------------------------------------------------------------

    def _wait(self, ready: Callable[[], Any], what: str, timeout: float | None) -> Any:
        found: list[Any] = []

        def check() -> bool:
            if not found:
                value = ready()
                if value:
                    found.append(value)
            return bool(found or self.errors)

        with self._cond:
            self._cond.wait_for(check, timeout or self.timeout)
            if self.errors and not found:
                raise DapError(f"while waiting for {what}: {self.errors[0]!r}")
        if not found:
            raise DapError(f"timed out waiting for {what}")
        return found[0]

    def wait_for_child(self, pid: int | None = None, timeout: float | None = None) -> DapSession:
        """Wait until a child session (any, or the given pid) is attached and configured."""

        def ready() -> DapSession | None:
            if pid is None:
                return next(iter(self.children.values()), None)
            return self.children.get(pid)

        return self._wait(ready, f"child session {pid or ''}".strip(), timeout)

    def wait_for_stop(self, timeout: float | None = None) -> Stop:
        """Wait for the next `stopped` event from any session and consume it."""
        return self._wait(lambda: self._stops and self._stops.pop(0), "a stopped event", timeout)

    # -- inspecting a stop ------------------------------------------------------------------

    @staticmethod
    def top_frame(stop: Stop) -> Message:
        body = stop.session.request("stackTrace", {"threadId": stop.thread_id, "levels": 1})
        return body["stackFrames"][0]

    @staticmethod
    def local_variables(stop: Stop, frame_id: int) -> dict[str, Message]:
        """Locals of the frame: name -> DAP variable (value is the repr, as VS Code shows it)."""
        scopes = stop.session.request("scopes", {"frameId": frame_id})["scopes"]
        local = next(s for s in scopes if s["name"].lower() == "locals")
        variables = stop.session.request(
            "variables", {"variablesReference": local["variablesReference"]}
        )["variables"]
        return {v["name"]: v for v in variables}

    @staticmethod
    def evaluate(stop: Stop, frame_id: int, expression: str) -> str:
        body = stop.session.request(
            "evaluate", {"expression": expression, "frameId": frame_id, "context": "repl"}
        )
        return str(body["result"])

    @staticmethod
    def resume(stop: Stop) -> None:
        stop.session.request("continue", {"threadId": stop.thread_id})

    # -- teardown ---------------------------------------------------------------------------

    def close(self) -> None:
        """Detach from every session without terminating the debuggees, as 'Disconnect' does."""
        for thread in self._threads:
            thread.join(timeout=self.timeout)
        for session in reversed(self.sessions):
            if not session.closed:
                try:
                    seq = session.send("disconnect", {"terminateDebuggee": False})
                    session.response(seq, timeout=5)
                except (DapError, OSError):
                    pass
            session.close()

    def __enter__(self) -> DapClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
