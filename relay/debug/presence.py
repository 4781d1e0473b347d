"""Tells workers, live, whether a debugger is attached to relay's main process.

debugpy holds a worker that starts while a client is attached until the client has configured
the worker's own session. A worker that was already running when the client attached is not
held: the client configures it a moment later, and an invocation in between would run straight
past the breakpoints. The worker therefore needs "is a client attached to relay?" before each
invocation, and only relay's main process knows it. This module carries that one bit over a
loopback socket: one byte per change, b"1" attached, b"0" not.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

ATTACHED, DETACHED = b"1", b"0"


class PresenceServer:
    """Main-process side: publishes the attach state to every connected worker."""

    def __init__(
        self,
        is_attached: Callable[[], bool],
        wait_for_attach: Callable[[], None],
        *,
        poll_interval: float = 0.05,
    ) -> None:
        self._is_attached = is_attached
        self._wait_for_attach = wait_for_attach
        self._poll_interval = poll_interval
        self._lock = threading.Lock()
        self._peers: list[socket.socket] = []
        self._state = DETACHED
        self._closed = threading.Event()
        self.attached = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        for target, name in ((self._accept_loop, "accept"), (self._watch_loop, "watch")):
            threading.Thread(
                target=target, name=f"relay-debug-presence-{name}", daemon=True
            ).start()

    def _publish(self, state: bytes) -> None:
        with self._lock:
            self._state = state
            (self.attached.set if state == ATTACHED else self.attached.clear)()
            for peer in list(self._peers):
                try:
                    peer.sendall(state)
                except OSError:
                    self._peers.remove(peer)

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                peer, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                try:
                    peer.sendall(self._state)
                except OSError:
                    peer.close()
                    continue
                self._peers.append(peer)

    def _watch_loop(self) -> None:
        # Attaching is awaited (debugpy wakes us at configurationDone) so that the bit flips
        # before debugpy announces the workers to the client; detaching is polled.
        while not self._closed.is_set():
            self._wait_for_attach()
            self._publish(ATTACHED)
            while self._is_attached() and not self._closed.is_set():
                self._closed.wait(self._poll_interval)
            self._publish(DETACHED)

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        with self._lock:
            for peer in self._peers:
                with contextlib.suppress(OSError):
                    peer.close()
            self._peers.clear()


class PresenceWatcher:
    """Worker side: follows the main process's attach state (detached if it goes away)."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.attached = False
        self.changed = threading.Condition()
        self._sock = socket.create_connection(address, timeout=5)
        self._sock.settimeout(None)
        self._first = threading.Event()
        threading.Thread(target=self._read_loop, name="relay-debug-presence", daemon=True).start()
        self._first.wait(5)

    def _read_loop(self) -> None:
        try:
            while data := self._sock.recv(64):
                self._set(data[-1:] == ATTACHED)
        except OSError:
            pass
        self._set(False)

    def _set(self, attached: bool) -> None:
        with self.changed:
            self.attached = attached
            self.changed.notify_all()
        self._first.set()
