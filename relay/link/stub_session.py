"""The stub's side of the link as a sans-I/O state machine (no sockets, no clock).

One :class:`StubSession` per Lambda execution environment. It keeps what the environment
learned while warm (its connection, its own connection id, the stage's client connection)
and drives one invocation at a time: ``start`` it, feed it what happened (a connect that
succeeded or failed, a message, a post's outcome, the socket closing, a timer) with the
current time, and carry out the actions it returns, until one of them is :class:`Finish` or
:class:`Fail`. ``wake`` says when to call :meth:`StubSession.timer` if nothing else happens.

Copied verbatim into the stub asset (top-level ``stub_session``), so stdlib only and
importable on Python 3.9 (no ``X | Y`` evaluated at import).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Union

try:  # in the stub asset, messages.py is a sibling module
    import messages
except ModuleNotFoundError:  # in relay's own source tree
    from relay.link import messages

#: Neither ack nor result within this long after the post means no relay client is listening.
NO_CLIENT_AFTER = 3.0
#: The client re-acks a running invocation every 2 s; this much silence means it is gone.
ACK_SILENCE = 6.0
#: A message this often while a long invocation waits: API Gateway drops a connection idle
#: for 10 min, and a NAT gateway one idle for 350 s.
PING_EVERY = 240.0
#: A warm connection idle this long is replaced before use (a NAT may have dropped it at 350 s).
IDLE_RECONNECT = 300.0
#: API Gateway closes a connection after 2 h; never start a wait that would cross it.
MAX_CONNECTION_AGE = 2 * 3600.0 - 5 * 60.0
#: Leave this much of the function's time to return a clear timeout error ourselves.
DEADLINE_MARGIN = 0.150
#: Pauses between two hellos while waiting for a client: the first, doubling up to the last
#: (each hello runs the connect handler; a burst of stubs polling fast would slow the very
#: reconnect they wait for).
HELLO_RETRY, HELLO_RETRY_MAX = 0.25, 1.0
#: A client that was there a moment ago (its connection answered 410) is reconnecting, or
#: crashed: it gets this many seconds of pauses to come back (no client at all gets 3 s).
RECONNECT_GRACE = 10.0
#: The cold path (the SigV4 handshake, whose $connect runs the connect handler, a Lambda that
#: may be cold, then hello/welcome through it again) may take this long, within the
#: function's own time; the 3 s "no client" window starts only once the invoke is posted.
COLD_PATH_LIMIT = 20.0
#: A handshake that fails other than by refusal (4xx) is tried this many times in all.
CONNECT_ATTEMPTS = 2
#: Re-posts to a client that reconnected under a new connection id, per invocation.
REDELIVERIES = 2
#: Pauses before re-posting after PostToConnection answered 429 or 5xx (or the network failed).
POST_BACKOFF = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)


# --- actions: what the driver must do -----------------------------------------------------


@dataclass(frozen=True)
class Connect:
    """Open the WebSocket (SigV4, ``role=stub``) by ``until``; report the outcome."""

    until: float


@dataclass(frozen=True)
class Close:
    """Close the current WebSocket (it is stale); no outcome to report."""


@dataclass(frozen=True)
class Send:
    """Send ``message`` on the WebSocket (``$default`` route)."""

    message: messages.Message


@dataclass(frozen=True)
class Post:
    """PostToConnection ``invoke`` (overflow through S3 if large) to ``to``; report the outcome."""

    to: str
    invoke: messages.Invoke


@dataclass(frozen=True)
class Echo:
    """A line for the function's log (the handler's own output, or a note of the stub's)."""

    text: str


@dataclass(frozen=True)
class Finish:
    """The invocation is answered: return the result or raise the function error."""

    answer: messages.Result | messages.Error


#: Fail kinds, named as the stub's exception classes.
NOT_CONNECTED, LOST, TIMEOUT, ERROR = (
    "RelayClientNotConnected",
    "RelayClientLost",
    "RelayTimeout",
    "RelayError",
)
#: The client acked and is alive, the handler still runs (a breakpoint, a slow handler, a
#: local timeout whose answer is on its way): the function's time is up, so Lambda's own
#: timeout is the truthful outcome. The driver lets the function run out its time.
DEADLINE = "Deadline"


@dataclass(frozen=True)
class Fail:
    """The invocation cannot be answered: ``kind`` is one of the four above, ``text`` says why
    and what to do."""

    kind: str
    text: str


Action = Union[Connect, Close, Send, Post, Echo, Finish, Fail]  # noqa: UP007

# --- phases of one invocation ---------------------------------------------------------------

IDLE = "idle"  # no invocation
CONNECTING = "connecting"  # waiting for the Connect outcome
HELLO = "hello"  # hello sent to learn the ids before posting
POLLING = "polling"  # no client (or only the one that is gone): pause, then hello again
POSTING = "posting"  # waiting for the Post outcome
BACKOFF = "backoff"  # the post failed with 429/5xx: pause, then post again
WAITING = "waiting"  # posted: waiting for ack, log, result or error
CHECKING = "checking"  # silence: hello sent to see whether the client reconnected
DONE = "done"


class StubSession:
    """The link as one execution environment sees it (see the module docstring)."""

    def __init__(self, stage: str, new_nonce: Callable[[], str] | None = None) -> None:
        self.stage = stage
        self._new_nonce = new_nonce or (lambda: uuid.uuid4().hex)
        # -- the environment's connection (kept while warm) --
        self.connected = False
        self.opened_at = 0.0
        self.last_traffic = 0.0
        self.connection_id: str | None = None
        self.client_id: str | None = None
        # -- the current invocation --
        self.phase = IDLE
        self.invoke: messages.Invoke | None = None
        self.last_chance = 0.0
        self.acked = False
        self.window = 0.0  # when the current silence started
        self.next_ping = 0.0
        self.posted_to: str | None = None
        self.first_to: str | None = None  # the client that got the first delivered post
        self.posted_from: str | None = None
        self.redeliveries = 0
        self._nonce = ""
        self._hello_until = 0.0
        self._hello_sent = 0.0
        self._gone: str | None = None
        self._poll_budget = 0.0
        self._poll_pause = HELLO_RETRY
        self._poll_at = 0.0
        self._connect_until = 0.0
        self._connect_attempts = 0
        self._connect_started = 0.0
        self._last_failure = ""
        self._post_failures = 0
        self._retry_at = 0.0

    # -- inputs -----------------------------------------------------------------------------

    def start(self, invoke: messages.Invoke, now: float, deadline: float) -> list[Action]:
        """Begin forwarding ``invoke``; ``deadline`` is when Lambda ends the function."""
        if self.phase not in (IDLE, DONE):
            raise RuntimeError("the stub session is already forwarding an invocation")
        self.phase = IDLE
        self.invoke = invoke
        self._nonce = ""  # a welcome to an earlier invocation's hello is stale now
        self.last_chance = deadline - DEADLINE_MARGIN
        self.acked = False
        self.window = now
        self.next_ping = now + PING_EVERY
        self.posted_to = self.posted_from = self.first_to = None
        self.redeliveries = 0
        self._gone = None
        self._poll_budget = NO_CLIENT_AFTER
        self._poll_pause = HELLO_RETRY
        self._post_failures = 0
        actions: list[Action] = []
        if self.connected and (
            now - self.opened_at + (deadline - now) > MAX_CONNECTION_AGE
            or now - self.last_traffic > IDLE_RECONNECT
        ):
            actions.append(Close())
            self._lose_connection()
        if now >= self.last_chance:
            return actions + self._fail(TIMEOUT)
        if not self.connected:
            return actions + self._connect(now)
        if self.connection_id is None or self.client_id is None:
            return actions + self._hello(now)
        return actions + self._post()

    def connect_succeeded(self, now: float) -> list[Action]:
        self._expect(CONNECTING)
        self.connected = True
        self.opened_at = self.last_traffic = now
        self.connection_id = None
        return self._hello(now)

    def connect_failed(self, now: float, reason: str, refused: bool = False) -> list[Action]:
        """``refused``: the gateway answered 4xx (signature, stage): a retry cannot help."""
        self._expect(CONNECTING)
        self._last_failure = reason
        self._connect_attempts += 1
        if not refused and self._connect_attempts < CONNECT_ATTEMPTS and now < self._connect_until:
            return [Connect(self._connect_until)]
        return self._fail(
            ERROR,
            f"relay: could not connect to the stage's WebSocket API within "
            f"{now - self._connect_started:.1f} s ({reason}); is the debug stack of stage "
            f"{self.stage!r} deployed? Run `relay start --stage {self.stage}`.",
        )

    def closed(self, now: float) -> list[Action]:
        """The WebSocket closed (the gateway's limits, a deleted connection, the network)."""
        self._lose_connection()
        if self.phase in (IDLE, DONE, CONNECTING, POSTING):
            return []  # nothing waits on the socket (a post's outcome still comes)
        # Connect again and ask under the same id: the client answers each id once, to the
        # connection the latest post named.
        return self._connect(now)

    def received(self, message: messages.Message, now: float) -> list[Action]:
        self.last_traffic = now
        if isinstance(message, messages.Welcome):
            return self._on_welcome(message, now)
        if isinstance(message, (messages.Ack, messages.Log, messages.Result, messages.Error)):
            return self._on_answer(message, now)
        if isinstance(message, (messages.Pong, messages.Ping)):
            return []
        return [Echo(f"relay: dropped a {message.type} message (not meant for a stub)")]

    def posted(self, now: float) -> list[Action]:
        self._expect(POSTING)
        self.phase = WAITING
        self.posted_to = self.client_id
        self.posted_from = self.connection_id
        if self.first_to is None:
            self.first_to = self.client_id
        self.window = now
        self._post_failures = 0
        if not self.connected:  # closed while posting: the answer would go to a dead id
            return self._connect(now)
        return []

    def post_gone(self, now: float) -> list[Action]:
        """410: the client reconnected or stopped; ask for its new connection."""
        self._expect(POSTING)
        self._gone = self.client_id
        self.client_id = None
        self._poll_budget = RECONNECT_GRACE
        self._poll_pause = HELLO_RETRY
        return self._hello(now)

    def post_failed(self, now: float, reason: str, retryable: bool) -> list[Action]:
        """``retryable``: 429, 5xx or a network failure (PostToConnection may succeed later)."""
        self._expect(POSTING)
        if retryable and self._post_failures < len(POST_BACKOFF):
            pause = POST_BACKOFF[self._post_failures]
            self._post_failures += 1
            if now + pause < self.last_chance:
                self.phase = BACKOFF
                self._retry_at = now + pause
                return []
        return self._fail(ERROR, f"relay: could not reach the relay client: {reason}")

    def timer(self, now: float) -> list[Action]:
        """Time passed (``now`` ≥ ``wake``, or spuriously earlier: nothing is due then)."""
        if self.phase in (IDLE, DONE, CONNECTING, POSTING):
            return []
        if now >= self.last_chance:
            alive = self.acked and now < self.window + ACK_SILENCE
            if alive and self.phase in (WAITING, CHECKING):
                self.phase = DONE
                return [Fail(DEADLINE, "relay: the function's time ran out while it ran")]
            return self._fail(TIMEOUT)
        if self.phase == HELLO and now >= self._hello_until:
            return self._fail(
                ERROR,
                f"relay: the connect handler of stage {self.stage!r} did not answer within "
                f"{now - self._hello_sent:.1f} s; "
                f"check its logs, or redeploy with `relay start --stage {self.stage}`",
            )
        if self.phase == POLLING and now >= self._poll_at:
            return self._hello(now)
        if self.phase == BACKOFF and now >= self._retry_at:
            return self._post()
        if self.phase == CHECKING and now >= self._hello_until:
            return self._fail(LOST if self.acked else NOT_CONNECTED)
        if self.phase == WAITING:
            if now >= self.window + (ACK_SILENCE if self.acked else NO_CLIENT_AFTER):
                if self.redeliveries < REDELIVERIES:
                    # Silence: maybe the client reconnected and our post went to its old
                    # connection, or our own connection changed. Ask the gateway.
                    return self._hello(now, checking=True)
                return self._fail(LOST if self.acked else NOT_CONNECTED)
            if now >= self.next_ping:
                self.next_ping = now + PING_EVERY
                self.last_traffic = now
                assert self.invoke is not None
                return [Send(messages.Ping(nonce=self.invoke.id))]
        return []

    # -- what the driver asks ----------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self.phase == DONE

    @property
    def wake(self) -> float | None:
        """When :meth:`timer` must be called next (None: wait for an outcome, not time)."""
        if self.phase in (IDLE, DONE, CONNECTING, POSTING):
            return None
        due = {
            HELLO: self._hello_until,
            CHECKING: self._hello_until,
            POLLING: self._poll_at,
            BACKOFF: self._retry_at,
            WAITING: min(
                self.window + (ACK_SILENCE if self.acked else NO_CLIENT_AFTER), self.next_ping
            ),
        }[self.phase]
        return min(due, self.last_chance)

    # -- steps -------------------------------------------------------------------------------

    def _connect(self, now: float) -> list[Action]:
        self.phase = CONNECTING
        self._connect_until = self._cold_until(now)
        self._connect_attempts = 0
        self._connect_started = now
        return [Connect(self._connect_until)]

    def _hello(self, now: float, checking: bool = False) -> list[Action]:
        self.phase = CHECKING if checking else HELLO
        self._nonce = self._new_nonce()
        self._hello_sent = now
        self._hello_until = (
            min(now + NO_CLIENT_AFTER, self.last_chance) if checking else self._cold_until(now)
        )
        self.last_traffic = now
        return [Send(messages.Hello(role="stub", stage=self.stage, nonce=self._nonce))]

    def _post(self) -> list[Action]:
        assert self.invoke is not None and self.client_id is not None
        self.phase = POSTING
        invoke = replace(self.invoke, reply_to=self.connection_id or "-", first_to=self.first_to)
        return [Post(self.client_id, invoke)]

    def _on_welcome(self, welcome: messages.Welcome, now: float) -> list[Action]:
        if not self._nonce or welcome.nonce != self._nonce:
            return [Echo("relay: dropped a late welcome (an earlier hello's)")]
        self._nonce = ""
        if self.phase not in (HELLO, CHECKING):
            return []  # a check an ack already answered: the post stands as it is
        self.connection_id = welcome.connection_id
        self.client_id = welcome.client_id
        if self.phase == CHECKING:
            if self.client_id is not None and (
                self.client_id != self.posted_to or self.connection_id != self.posted_from
            ):
                # The client (or our own connection) changed since the post: post again
                # under the same id; a client that has it re-posts its answer, never reruns.
                self.redeliveries += 1
                return self._post()
            return self._fail(LOST if self.acked else NOT_CONNECTED)
        if self.client_id is None or self.client_id == self._gone:
            # A client may be between two connections: give it 3 s of pauses (a slow, cold
            # connect handler does not count) before saying there is none.
            if self._poll_budget <= 0:
                return self._fail(NOT_CONNECTED)
            pause = min(self._poll_pause, self._poll_budget)
            self._poll_budget -= pause
            self._poll_pause = min(self._poll_pause * 2, HELLO_RETRY_MAX)
            self.phase = POLLING
            self._poll_at = now + pause
            return []
        return self._post()

    def _on_answer(self, message: messages.Message, now: float) -> list[Action]:
        invoke = self.invoke
        if invoke is None or self.phase in (IDLE, DONE) or message.id != invoke.id:
            return [
                Echo(
                    f"relay: dropped a {message.type} message for another invocation "
                    "(late or duplicate answer)"
                )
            ]
        if isinstance(message, (messages.Result, messages.Error)):
            self.phase = DONE
            return [Finish(message)]
        self.window = now  # the client is alive: every answer restarts the clock
        if isinstance(message, messages.Ack):
            self.acked = True
        if self.phase == CHECKING:
            self.phase = WAITING  # the pending welcome still updates the ids when it comes
        actions: list[Action] = []
        if isinstance(message, messages.Log):
            actions.append(Echo(message.text.rstrip("\n")))
        return actions

    def _fail(self, kind: str, text: str = "") -> list[Action]:
        self.phase = DONE
        if kind == NOT_CONNECTED:
            self.client_id = None  # ask again next time
        if not text:
            text = {
                NOT_CONNECTED: (
                    f"relay: no relay client is running for stage {self.stage!r}; "
                    f"run `relay start --stage {self.stage}` and invoke again"
                ),
                LOST: (
                    f"relay: the relay client of stage {self.stage!r} stopped answering "
                    "while this invocation ran (it was stopped or lost its connection); "
                    f"run `relay start --stage {self.stage}` and invoke again"
                ),
                TIMEOUT: (
                    f"relay: no answer from the relay client of stage {self.stage!r} before "
                    "the function's deadline (was `relay start` stopped?)"
                ),
            }[kind]
        return [Fail(kind, text)]

    def _lose_connection(self) -> None:
        self.connected = False
        self.connection_id = None
        self._nonce = ""

    def _cold_until(self, now: float) -> float:
        return min(self.last_chance, now + COLD_PATH_LIMIT)

    def _expect(self, phase: str) -> None:
        if self.phase != phase:
            raise RuntimeError(f"stub session: an outcome for {phase} arrived in {self.phase}")
