"""The worker's invocation gate against the session debugpy's adapter opens by itself.

A worker that connects to debugpy's adapter while no debugger is attached is released by the
adapter (configurationDone, then disconnect); until the worker has processed the disconnect,
debugpy reports a configured client. These tests drive the gate with a real presence server and
watcher and a `configured` probe that plays that sequence.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from relay.debug.presence import PresenceServer, PresenceWatcher
from relay.debug.worker import InvocationGate

DEADLINE = 30.0


class Probe:
    """What debugpy.is_client_connected() answers; counts the gate's questions."""

    def __init__(self, configured: bool) -> None:
        self.configured = configured
        self.asked = 0
        self.cond = threading.Condition()

    def __call__(self) -> bool:
        with self.cond:
            self.asked += 1
            self.cond.notify_all()
            return self.configured

    def wait_asked(self, times: int) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: self.asked >= times, DEADLINE)


@pytest.fixture
def relay_debugger() -> Iterator[tuple[threading.Event, PresenceWatcher]]:
    """(set it to attach a debugger to "relay", the worker's watcher of that state)."""
    attached = threading.Event()
    server = PresenceServer(attached.is_set, attached.wait, poll_interval=0.01)
    watcher = PresenceWatcher(server.address)
    yield attached, watcher
    attached.set()  # ends the server's wait for an attach
    server.close()


def _run(target: object) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)  # type: ignore[arg-type]
    thread.start()
    return thread


def test_settle_waits_out_the_adapters_own_session_while_no_debugger_is_attached(
    relay_debugger: tuple[threading.Event, PresenceWatcher],
) -> None:
    _, watcher = relay_debugger
    probe = Probe(configured=True)  # the adapter's configurationDone, its disconnect not yet
    gate = InvocationGate(watcher, wait_for_debugger=True, configured=probe)
    settling = _run(gate.settle)
    probe.wait_asked(5)
    assert settling.is_alive()  # still asking: the configured session is not trusted
    probe.configured = False  # the adapter's disconnect is processed
    settling.join(DEADLINE)
    assert not settling.is_alive()


def test_a_held_invocation_waits_for_the_debugger_after_the_adapters_session(
    relay_debugger: tuple[threading.Event, PresenceWatcher],
) -> None:
    """The whole sequence the flaky breakpoint test hit: adapter session, invocation held,
    debugger attached to relay, worker configured by it, invocation released."""
    attached, watcher = relay_debugger
    probe = Probe(configured=True)
    gate = InvocationGate(watcher, wait_for_debugger=True, configured=probe)
    settling = _run(gate.settle)
    probe.wait_asked(2)
    probe.configured = False
    settling.join(DEADLINE)
    assert not settling.is_alive()

    holding = _run(gate.wait)  # an invocation arrived; no debugger yet
    asked = probe.asked
    probe.wait_asked(asked + 5)
    assert holding.is_alive()
    attached.set()  # the debugger attaches to relay; this worker's session not configured yet
    with watcher.changed:
        assert watcher.changed.wait_for(lambda: watcher.attached, DEADLINE)
    asked = probe.asked
    probe.wait_asked(asked + 5)
    assert holding.is_alive()
    probe.configured = True  # the debugger configured this worker: breakpoints are set
    holding.join(DEADLINE)
    assert not holding.is_alive()


def test_settle_trusts_a_configured_session_once_a_debugger_is_attached_to_relay(
    relay_debugger: tuple[threading.Event, PresenceWatcher],
) -> None:
    """A worker started while a debugger is attached is held by debugpy until that debugger
    configured it: its session is the debugger's, and settle returns at once."""
    attached, watcher = relay_debugger
    attached.set()
    with watcher.changed:
        assert watcher.changed.wait_for(lambda: watcher.attached, DEADLINE)
    probe = Probe(configured=True)
    InvocationGate(watcher, wait_for_debugger=True, configured=probe).settle()
    assert probe.asked == 1


def test_settle_gives_up_with_a_warning_when_the_session_never_ends(
    relay_debugger: tuple[threading.Event, PresenceWatcher], capsys: pytest.CaptureFixture[str]
) -> None:
    _, watcher = relay_debugger
    probe = Probe(configured=True)
    InvocationGate(watcher, wait_for_debugger=False, configured=probe).settle(limit=0.05)
    assert probe.asked >= 2
    assert "no debugger is attached to relay; breakpoints may be missed" in capsys.readouterr().err
