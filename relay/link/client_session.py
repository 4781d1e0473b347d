"""The relay client's side of the link as a sans-I/O state machine (no sockets, no clock).

It holds the invocation table: each invocation id runs once; a running one is acked only
once it has run ``ACK_AFTER`` (then every ``ACK_EVERY``), so a fast invocation costs two
AWS calls, not three (a measured decision, see docs/architecture.md); its answer is kept
until ``KEEP_ANSWERS`` past the stub's deadline, so a stub that reconnected and asks again
under the same id gets the same answer at its new connection, never a second run. It also
keeps the client's own connection alive (heartbeat, reconnect before API Gateway's 2 h).

The asyncio driver (``relay.client``) feeds it messages, handler outcomes and timers, with
the current time in seconds since the epoch (the stub's deadlines are epoch milliseconds),
and carries out the actions it returns. ``wake`` says when to call :meth:`ClientSession.timer`.
"""

from __future__ import annotations

import heapq
import json
import logging
from dataclasses import dataclass
from typing import Union

from relay.link import messages

log = logging.getLogger("relay.link")

#: Ack only invocations still running after this long (the documented deviation from AWS's
#: "ack at once": fast invocations then cost two AWS calls, not three).
ACK_AFTER = 0.25
#: Running invocations are acked again this often (the stub gives up after 6 s of silence).
ACK_EVERY = 2.0
#: Answers are kept this long after the deadline, for a stub that reconnected and asks again.
KEEP_ANSWERS = 60.0
#: A data message this often keeps API Gateway's 10-minute idle timeout (and a NAT's 350 s)
#: away.
HEARTBEAT = 240.0
#: API Gateway closes connections after 2 h; reconnect on our own terms before that.
RECONNECT_AFTER = 2 * 3600.0 - 10 * 60.0

EXIT_REPLACED = 3


# --- actions: what the driver must do -----------------------------------------------------


@dataclass(frozen=True)
class Run:
    """Run ``invoke`` on the local runtime; report its answer with ``finished``."""

    invoke: messages.Invoke


@dataclass(frozen=True)
class Cancel:
    """Stop running this invocation (its answer was already given)."""

    invocation_id: str


@dataclass(frozen=True)
class Post:
    """PostToConnection ``message`` to the stub connection ``to`` (overflow if large)."""

    to: str
    message: messages.Message
    invoke: messages.Invoke


@dataclass(frozen=True)
class Send:
    """Send ``message`` on the client's own WebSocket."""

    message: messages.Message


@dataclass(frozen=True)
class Connected:
    """The gateway told us our connection id (write it to session.json)."""

    connection_id: str


@dataclass(frozen=True)
class Reconnect:
    """Close the WebSocket and open a new one (the gateway's 2 h limit is near)."""


@dataclass(frozen=True)
class Exit:
    """Stop serving with this exit status (another ``relay start`` took the stage)."""

    status: int
    text: str


Action = Union[Run, Cancel, Post, Send, Connected, Reconnect, Exit]  # noqa: UP007


@dataclass
class _Entry:
    invoke: messages.Invoke
    reply_to: str
    answer: messages.Result | messages.Error | None = None
    ack_at: float | None = None  # when the next ack is due while running
    forget_at: float | None = None  # when the kept answer is dropped


class ClientSession:
    """The invocation table and the connection's keep-alive (see the module docstring)."""

    def __init__(
        self, stage: str, *, heartbeat: float = HEARTBEAT, reconnect_after: float = RECONNECT_AFTER
    ) -> None:
        self.stage = stage
        self.heartbeat = heartbeat
        self.reconnect_after = reconnect_after
        self.connection_id: str | None = None
        self.stopping = False
        self._table: dict[str, _Entry] = {}
        self._timers: list[tuple[float, int, str]] = []  # (when, seq, invocation id)
        self._seq = 0
        self._socket_open = False
        self._own_ids: list[str] = []  # this process's connection ids, newest last
        self._heartbeat_at: float | None = None
        self._reconnect_at: float | None = None

    # -- the connection ------------------------------------------------------------------------

    def connected(self, now: float) -> list[Action]:
        """The WebSocket is open: say hello to learn our connection id."""
        self._socket_open = True
        self._heartbeat_at = now + self.heartbeat
        self._reconnect_at = now + self.reconnect_after
        return [Send(messages.Hello(role="client", stage=self.stage))]

    def disconnected(self) -> list[Action]:
        """The WebSocket closed: nothing in flight is lost (answers go to stubs' connections)."""
        self._socket_open = False
        self.connection_id = None
        self._heartbeat_at = self._reconnect_at = None
        return []

    # -- inputs -------------------------------------------------------------------------------

    def received(self, message: messages.Message, now: float) -> list[Action]:
        """A message from the gateway (overflow pointers already resolved by the driver)."""
        if isinstance(message, messages.Invoke):
            return self._accept(message, now)
        if isinstance(message, messages.Welcome):
            self.connection_id = message.connection_id
            if message.connection_id not in self._own_ids:
                self._own_ids = [*self._own_ids[-63:], message.connection_id]
            return [Connected(message.connection_id)]
        if isinstance(message, messages.Replaced):
            self.stopping = True  # running invocations finish and answer their stubs
            return [
                Exit(
                    EXIT_REPLACED,
                    f"relay: replaced by another `relay start` for stage {message.stage}; stopping",
                )
            ]
        if isinstance(message, messages.Pong):
            return []
        log.warning("relay: ignored a %s message (not meant for a client)", message.type)
        return []

    def finished(
        self, invocation_id: str, answer: messages.Result | messages.Error, now: float
    ) -> list[Action]:
        """The local runtime answered (a result, Lambda's error JSON, or a relay error)."""
        entry = self._table.get(invocation_id)
        if entry is None or entry.answer is not None:
            return []  # answered already (stopped), or forgotten
        return self._answer(entry, answer, now)

    def stop(self, now: float) -> list[Action]:
        """Stop serving: running invocations are answered ``Relay.ClientStopped`` at once."""
        self.stopping = True
        actions: list[Action] = []
        for entry in list(self._table.values()):
            if entry.answer is None:
                error = relay_error(
                    entry.invoke,
                    "Relay.ClientStopped",
                    f"`relay start` for stage {self.stage} stopped while this invocation ran; "
                    "start it again and repeat the request",
                )
                actions += self._answer(entry, error, now)
                actions.append(Cancel(entry.invoke.id))
        return actions

    def timer(self, now: float) -> list[Action]:
        """Acks, forgotten answers, heartbeat and reconnect that are due at ``now``."""
        actions: list[Action] = []
        while self._timers and self._timers[0][0] <= now:
            when, _, invocation_id = heapq.heappop(self._timers)
            entry = self._table.get(invocation_id)
            if entry is None:
                continue
            if entry.answer is None and entry.ack_at == when:
                entry.ack_at = now + ACK_EVERY
                self._schedule(entry.ack_at, invocation_id)
                actions.append(Post(entry.reply_to, messages.Ack(invocation_id), entry.invoke))
            elif entry.answer is not None and entry.forget_at == when:
                del self._table[invocation_id]
        if self._socket_open:
            if self._reconnect_at is not None and now >= self._reconnect_at:
                self._reconnect_at = self._heartbeat_at = None
                actions.append(Reconnect())
            elif self._heartbeat_at is not None and now >= self._heartbeat_at:
                self._heartbeat_at = now + self.heartbeat
                actions.append(Send(messages.Ping(nonce=f"{now:.3f}")))
        return actions

    # -- what the driver asks ------------------------------------------------------------------

    @property
    def wake(self) -> float | None:
        """When :meth:`timer` must be called next (None: nothing is scheduled)."""
        times = [t for t in (self._heartbeat_at, self._reconnect_at) if t is not None]
        if self._timers:
            times.append(self._timers[0][0])
        return min(times) if times else None

    @property
    def in_flight(self) -> int:
        return sum(1 for entry in self._table.values() if entry.answer is None)

    def __contains__(self, invocation_id: object) -> bool:
        return invocation_id in self._table

    # -- steps --------------------------------------------------------------------------------

    def _accept(self, invoke: messages.Invoke, now: float) -> list[Action]:
        entry = self._table.get(invoke.id)
        if entry is not None:
            # The stub asks again (it reconnected, or heard nothing): redirect to its new
            # connection; re-post a kept answer; a running one acks there when due.
            entry.reply_to = invoke.reply_to
            if entry.answer is not None:
                return [Post(entry.reply_to, entry.answer, entry.invoke)]
            return [Post(entry.reply_to, messages.Ack(invoke.id), entry.invoke)]
        if self.stopping:
            return []  # the stub asks the gateway again and finds the new client, or none
        if invoke.first_to is not None and invoke.first_to not in self._own_ids:
            # Delivered before to a connection this process never had: another `relay start`
            # (killed, or stopped) had it and may have run it. Never run it a second time.
            entry = _Entry(invoke, invoke.reply_to)
            self._table[invoke.id] = entry
            return self._answer(
                entry,
                relay_error(
                    invoke,
                    "Relay.ClientRestarted",
                    f"`relay start` for stage {self.stage} was restarted while this invocation "
                    "ran (it may have run in part); repeat the request",
                ),
                now,
            )
        entry = _Entry(invoke, invoke.reply_to, ack_at=now + ACK_AFTER)
        self._table[invoke.id] = entry
        self._schedule(entry.ack_at, invoke.id)  # type: ignore[arg-type]
        return [Run(invoke)]

    def _answer(
        self, entry: _Entry, answer: messages.Result | messages.Error, now: float
    ) -> list[Action]:
        entry.answer = answer
        entry.ack_at = None
        keep = max(0.0, entry.invoke.deadline_ms / 1000.0 - now) + KEEP_ANSWERS
        entry.forget_at = now + keep
        self._schedule(entry.forget_at, entry.invoke.id)
        return [Post(entry.reply_to, answer, entry.invoke)]

    def _schedule(self, when: float, invocation_id: str) -> None:
        self._seq += 1
        heapq.heappush(self._timers, (when, self._seq, invocation_id))


def relay_error(invoke: messages.Invoke, error_type: str, message: str) -> messages.Error:
    """A relay-side failure in Lambda's error shape, so the caller sees it as one."""
    document = {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": invoke.request_id,
        "stackTrace": [],
    }
    return messages.Error(invoke.id, json.dumps(document).encode())
