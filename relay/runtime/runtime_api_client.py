"""The worker's side of the Runtime API: awslambdaric's native ``runtime_client``, in Python.

awslambdaric hands the HTTP of each invocation to a C++ module (aws-lambda-cpp over libcurl):
on loopback that costs ~80 µs of CPU per request, most of an echo invocation (12 polls, 4
getsockname and a header and a body written apart, per invocation). This client does the same
requests over one kept-alive socket, each in one write, and blocks in ``recv``: a third of
the CPU. It has the native module's interface and results (the same headers, ``None`` for an
absent one, the deadline as an int) and fails as it does: a ``RuntimeError`` with its message,
after the ``LAMBDA_RUNTIME`` error line it prints. awslambdaric's bootstrap itself (handler,
context, marshalling, error shapes, logging) and its client's Python are unchanged: the worker
entry puts this where that client looks for the native module.

No import of relay: the worker runs this beside ``worker_entry.py``, as a script's sibling.
"""

from __future__ import annotations

import _signal  # signal.pthread_sigmask turns each mask it returns into enums: 80 µs a call
import contextlib
import os
import signal
import socket
import time

NEXT = b"/2018-06-01/runtime/invocation/next"
INVOCATION = "/2018-06-01/runtime/invocation/"
#: What the native module returns of a ``/next`` answer, in its order (lowercase: as sent).
NEXT_HEADERS = (
    "Lambda-Runtime-Aws-Request-Id",
    "Lambda-Runtime-Trace-Id",
    "Lambda-Runtime-Invoked-Function-Arn",
    "Lambda-Runtime-Deadline-Ms",
    "Lambda-Runtime-Client-Context",
    "Content-Type",
    "Lambda-Runtime-Cognito-Identity",
    "Lambda-Runtime-Aws-Tenant-Id",
    "Lambda-Runtime-Invocation-Id",
)
_NEXT_FIELDS = tuple((name, name.lower()) for name in NEXT_HEADERS)
_SMALL = 64 * 1024  # a body up to this size goes out in the same write as its head
#: held while waiting when ``defer_signals`` is on (SIGKILL and SIGSTOP cannot be)
_HELD = signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP}


class ConnectionLost(OSError):
    """The Runtime API closed the connection before a whole answer came back."""


def _log_error(message: str) -> None:
    """aws-lambda-cpp's error line, on stdout as it prints it."""
    line = f"[ERROR] [{time.time_ns() // 1_000_000}] LAMBDA_RUNTIME {message}\n"
    with contextlib.suppress(OSError):
        os.write(1, line.encode(errors="replace"))


def _digits(value: str) -> int:
    """``strtoul(value, NULL, 10)``: the leading digits, 0 without any."""
    if value.isdigit():
        return int(value)
    value = value.lstrip()
    end = 0
    while end < len(value) and value[end].isdigit():
        end += 1
    return int(value[:end]) if end else 0


class RuntimeApiClient:
    """One runtime's connection to the Runtime API at ``address`` (``host:port``)."""

    def __init__(self, address: str, user_agent: str) -> None:
        host, _, port = address.rpartition(":")
        self.host = host or "127.0.0.1"
        self.port = int(port)
        self._common = f"Host: {address}\r\nAccept: */*\r\nUser-Agent: {user_agent}\r\n".encode()
        self._next_request = b"GET " + NEXT + b" HTTP/1.1\r\n" + self._common + b"\r\n"
        self._sock: socket.socket | None = None
        self._buffer = b""
        #: hold signals while waiting, so that Python handlers run when the event is in, as
        #: with the native module (libcurl retries its poll on EINTR). Off, they run while
        #: it waits, as on Lambda's runtimes that poll from a thread (python3.12 and later).
        self.defer_signals = False

    # the native module's interface ------------------------------------------------------
    def next(self) -> tuple[bytes, dict[str, str | int | None]]:
        """Wait for the next event: its body and headers, as ``runtime_client.next()``."""
        if not self.defer_signals:
            return self._next()
        held = _signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
        try:
            return self._next()
        finally:
            _signal.pthread_sigmask(signal.SIG_SETMASK, held)  # what came meanwhile runs now

    def _next(self) -> tuple[bytes, dict[str, str | int | None]]:
        try:
            status, headers, body = self._request(self._next_request)
        except OSError:
            _log_error("Failed to get next invocation. No Response from endpoint")
            raise RuntimeError("Failed to get next") from None
        if not 200 <= status < 300:
            _log_error(f"Failed to get next invocation. Http Response code: {status}")
            raise RuntimeError("Failed to get next")
        if "lambda-runtime-aws-request-id" not in headers:
            _log_error("Failed to find header lambda-runtime-aws-request-id in response")
            raise RuntimeError("Failed to get next")
        # the native module gives None for an empty value too
        result: dict[str, str | int | None] = {
            name: headers.get(lower) or None for name, lower in _NEXT_FIELDS
        }
        result["Lambda-Runtime-Aws-Request-Id"] = headers["lambda-runtime-aws-request-id"]
        result["Lambda-Runtime-Invoked-Function-Arn"] = headers.get(
            "lambda-runtime-invoked-function-arn", ""
        )
        result["Lambda-Runtime-Deadline-Ms"] = _digits(
            headers.get("lambda-runtime-deadline-ms", "")
        )
        return body, result

    def post_invocation_result(
        self,
        request_id: str,
        body: bytes,
        content_type: str,
        invocation_id: str | None = None,
    ) -> None:
        """Send the handler's result (``runtime_client.post_invocation_result``)."""
        self._post(request_id, "response", body, content_type, None, invocation_id)

    def post_error(
        self,
        request_id: str,
        body: str,
        xray_fault: str,
        invocation_id: str | None = None,
    ) -> None:
        """Send the handler's error (``runtime_client.post_error``)."""
        self._post(
            request_id, "error", body.encode(), "application/json", xray_fault, invocation_id
        )

    # HTTP ---------------------------------------------------------------------------------
    def _post(
        self,
        request_id: str,
        kind: str,
        body: bytes,
        content_type: str,
        xray_fault: str | None,
        invocation_id: str | None,
    ) -> None:
        failed = (
            "Failed to post invocation response"
            if kind == "response"
            else "Failed to post invocation error"
        )
        head = [
            f"POST {INVOCATION}{request_id}/{kind} HTTP/1.1\r\n".encode(),
            self._common,
            f"content-type: {content_type or 'text/html'}\r\n".encode(),
        ]
        if xray_fault:
            head.append(f"lambda-runtime-function-xray-error-cause: {xray_fault}\r\n".encode())
        if invocation_id is not None:
            head.append(f"lambda-runtime-invocation-id: {invocation_id}\r\n".encode())
        head.append(f"content-length: {len(body)}\r\n\r\n".encode())
        try:
            status, _, answer = self._request(b"".join(head), body)
        except OSError:
            raise RuntimeError(failed) from None
        if not 200 <= status < 300:
            _log_error(
                "Failed to post handler success response. Http response code: "
                f"{status}. {answer.decode(errors='replace')}"
            )
            raise RuntimeError(failed)

    def _request(self, head: bytes, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
        """One request and its answer; a kept-alive connection the server dropped is made
        anew once (as curl does), a fresh one that fails raises."""
        reused = self._sock is not None
        sock = self._sock or self._connect()
        try:
            self._send(sock, head, body)
            return self._read_response(sock)
        except OSError as exc:
            self.close()
            if reused and isinstance(exc, (ConnectionLost, ConnectionError)) and not self._buffer:
                return self._request(head, body)
            raise

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port))
        sock.settimeout(None)  # whatever socket.setdefaulttimeout() the handler sets later
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._buffer = b""
        return sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    @staticmethod
    def _send(sock: socket.socket, head: bytes, body: bytes) -> None:
        if len(body) <= _SMALL:
            sock.sendall(head + body)
            return
        sock.sendall(head)
        # refused early (a 413 from the head alone): its answer may be waiting all the same
        with contextlib.suppress(ConnectionError):
            sock.sendall(body)

    def _read_response(self, sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
        buffer = self._buffer
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            buffer += self._recv(sock, buffer)
        lines = buffer[:end].decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split(" ", 2)[1])
        except (IndexError, ValueError):
            raise ConnectionLost(f"not an HTTP response: {lines[0][:80]!r}") from None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        start = end + 4
        length = headers.get("content-length")
        if length is None:  # no length: the body runs to the end of the connection
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buffer += chunk
            self.close()
            self._buffer = b""
            return status, headers, buffer[start:]
        stop = start + int(length)
        while len(buffer) < stop:
            buffer += self._recv(sock, buffer)
        self._buffer = buffer[stop:]
        if headers.get("connection", "").lower() == "close":
            self.close()
            self._buffer = b""
        return status, headers, buffer[start:stop]

    def _recv(self, sock: socket.socket, buffered: bytes) -> bytes:
        chunk = sock.recv(65536)
        if not chunk:
            self._buffer = buffered
            raise ConnectionLost("the Runtime API closed the connection")
        return chunk
