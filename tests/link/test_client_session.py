"""The client's session machine: the invocation table, deferred acks, the answer cache and
the connection's keep-alive, on a simulated clock (no sockets, no sleeps)."""

from __future__ import annotations

import json

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from relay.link import client_session as cs
from relay.link import messages as m

STAGE = "alice"
T0 = 1_700_000_000.0


def invoke(
    invocation: str = "i1", reply_to: str = "s1", deadline: float = T0 + 30, **extra: str
) -> m.Invoke:
    return m.Invoke(
        id=invocation,
        reply_to=reply_to,
        stage=STAGE,
        function_name="fn",
        request_id=f"r-{invocation}",
        deadline_ms=int(deadline * 1000),
        payload=b"{}",
        **extra,  # type: ignore[arg-type]
    )


def error_type(message: m.Message) -> str:
    assert isinstance(message, m.Error)
    return message.error_type


class ClientSessionWorld(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.session = cs.ClientSession(STAGE)
        self.now = T0
        self.count = 0
        self.runs: dict[str, int] = {}
        self.running: dict[str, float] = {}  # invocation id -> when it started
        self.finals: dict[str, list[tuple[str, m.Message]]] = {}  # id -> (to, answer) posted
        self.reply_to: dict[str, str] = {}
        self.last_ack: dict[str, float] = {}
        self.own: list[str] = []
        self.deadlines: dict[str, float] = {}
        self.asking = False  # a stub asks again: an ack at once is right

    def _apply(self, actions: list[cs.Action]) -> None:
        for action in actions:
            if isinstance(action, cs.Run):
                self.runs[action.invoke.id] = self.runs.get(action.invoke.id, 0) + 1
                assert self.runs[action.invoke.id] == 1, "ran twice"
                self.running[action.invoke.id] = self.now
            elif isinstance(action, cs.Cancel):
                self.running.pop(action.invocation_id, None)
            elif isinstance(action, cs.Post):
                invocation = action.invoke.id
                assert action.to == self.reply_to[invocation], "posted to a stale connection"
                if isinstance(action.message, m.Ack):
                    assert invocation in self.running, "acked an invocation that is not running"
                    started = self.running[invocation]
                    assert self.asking or self.now - started >= cs.ACK_AFTER - 1e-9, (
                        "acked a fast invocation"
                    )
                    self.last_ack[invocation] = self.now
                else:
                    self.finals.setdefault(invocation, []).append((action.to, action.message))
            elif isinstance(action, cs.Connected):
                self.own.append(action.connection_id)

    @rule(first_to=st.sampled_from([None, "own", "foreign"]))
    def new_invocation(self, first_to: str | None) -> None:
        self.count += 1
        invocation = f"i{self.count}"
        self.reply_to[invocation] = "s1"
        extra = {}
        if first_to == "own" and self.own:
            extra["first_to"] = self.own[-1]
        elif first_to == "foreign":
            extra["first_to"] = "c-of-a-killed-client"
        self.deadlines[invocation] = self.now + 30
        self._apply(
            self.session.received(invoke(invocation, deadline=self.now + 30, **extra), self.now)
        )
        if self.session.stopping:
            assert invocation not in self.session  # left to the stub to find the next client
        elif "first_to" in extra and extra["first_to"] not in self.own:
            assert invocation not in self.runs
            ((_, answer),) = self.finals[invocation]
            assert error_type(answer) == "Relay.ClientRestarted"

    @precondition(lambda self: any(d > self.now for d in self.deadlines.values()))
    @rule(data=st.data(), stub_connection=st.sampled_from(["s1", "s2", "s3"]))
    def stub_asks_again(self, data: st.DataObject, stub_connection: str) -> None:
        """A stub that reconnected (or heard nothing) posts the same id again (before its
        deadline: after it, the stub has given up)."""
        waiting = sorted(i for i, d in self.deadlines.items() if d > self.now)
        invocation = data.draw(st.sampled_from(waiting))
        self.reply_to[invocation] = stub_connection
        before = list(self.finals.get(invocation, []))
        known = invocation in self.session
        self.asking = True
        again = invoke(invocation, stub_connection, self.deadlines[invocation])
        self._apply(self.session.received(again, self.now))
        self.asking = False
        if known and before:
            # the kept answer, again, to the new connection
            assert self.finals[invocation] == [*before, (stub_connection, before[-1][1])]

    @precondition(lambda self: bool(self.running))
    @rule(data=st.data(), fails=st.booleans())
    def handler_finishes(self, data: st.DataObject, fails: bool) -> None:
        invocation = data.draw(st.sampled_from(sorted(self.running)))
        del self.running[invocation]
        doc = json.dumps({"errorMessage": "x", "errorType": "ValueError"}).encode()
        answer = m.Error(invocation, doc) if fails else m.Result(invocation, b"ok")
        self._apply(self.session.finished(invocation, answer, self.now))
        ((to, posted),) = self.finals[invocation]
        assert posted == answer and to == self.reply_to[invocation]

    @rule(seconds=st.sampled_from([0.1, 0.2, 0.5, 2.0, 100.0, 400.0]))
    def time_passes(self, seconds: float) -> None:
        until = self.now + seconds
        while (wake := self.session.wake) is not None and wake <= until:
            self.now = max(self.now, wake)
            self._apply(self.session.timer(self.now))
        self.now = until

    @rule()
    def connection_cycles(self) -> None:
        self._apply(self.session.disconnected())
        (hello,) = self.session.connected(self.now)
        assert hello == cs.Send(m.Hello(role="client", stage=STAGE))
        self._apply(self.session.received(m.Welcome(STAGE, f"c{len(self.own)}", None), self.now))

    @rule()
    def stop(self) -> None:
        running = set(self.running)
        self._apply(self.session.stop(self.now))
        for invocation in running:
            assert error_type(self.finals[invocation][-1][1]) == "Relay.ClientStopped"
        assert not self.running

    @invariant()
    def running_ones_are_acked_every_two_seconds(self) -> None:
        for invocation, started in self.running.items():
            if self.now - started > cs.ACK_AFTER + 1e-6:
                assert self.now - self.last_ack[invocation] <= cs.ACK_EVERY + 1e-6

    @invariant()
    def each_answer_is_decided_once(self) -> None:
        for invocation, posts in self.finals.items():
            assert len({answer for _, answer in posts}) == 1, invocation


ClientSessionWorld.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None
)
test_client_session_world = ClientSessionWorld.TestCase


# --- scenarios ------------------------------------------------------------------------------


def test_fast_invocation_is_never_acked() -> None:
    """Two AWS calls per fast invocation: the invoke and the result (the deferred ack)."""
    session = cs.ClientSession(STAGE)
    assert session.received(invoke(), T0) == [cs.Run(invoke())]
    assert session.wake == T0 + cs.ACK_AFTER
    (post,) = session.finished("i1", m.Result("i1", b"1"), T0 + 0.249)
    assert post == cs.Post("s1", m.Result("i1", b"1"), invoke())
    assert session.timer(T0 + 0.25) == []


def test_slow_invocation_is_acked_at_250_ms_then_every_two_seconds() -> None:
    session = cs.ClientSession(STAGE)
    session.received(invoke(), T0)
    acks = []
    now = T0
    while now < T0 + 5:
        now = session.wake  # type: ignore[assignment]
        acks += [(now - T0, a) for a in session.timer(now)]
    assert [round(t, 3) for t, _ in acks] == [0.25, 2.25, 4.25, 6.25][: len(acks)]
    assert all(a == cs.Post("s1", m.Ack("i1"), invoke()) for _, a in acks)


def test_repeated_id_redirects_without_running_again() -> None:
    session = cs.ClientSession(STAGE)
    session.received(invoke(), T0)
    # running: the stub moved; an ack goes to its new connection at once
    assert session.received(invoke(reply_to="s2"), T0 + 1) == [cs.Post("s2", m.Ack("i1"), invoke())]
    (post,) = session.finished("i1", m.Result("i1", b"1"), T0 + 2)
    assert post.to == "s2"
    # answered: the kept answer, to the newest connection
    assert session.received(invoke(reply_to="s3"), T0 + 3) == [
        cs.Post("s3", m.Result("i1", b"1"), invoke())
    ]


def test_answers_are_kept_until_a_minute_past_the_deadline() -> None:
    session = cs.ClientSession(STAGE)
    session.received(invoke(deadline=T0 + 30), T0)
    session.finished("i1", m.Result("i1", b"1"), T0 + 1)
    session.timer(T0 + 30 + cs.KEEP_ANSWERS - 0.01)
    assert "i1" in session
    session.timer(T0 + 30 + cs.KEEP_ANSWERS)
    assert "i1" not in session


def test_invocation_first_sent_to_another_process_is_refused_not_run() -> None:
    """`relay start` killed and restarted: the new one must not run what the old one had."""
    session = cs.ClientSession(STAGE)
    session.connected(T0)
    session.received(m.Welcome(STAGE, "c-new", "c-new"), T0)
    (post,) = session.received(invoke(first_to="c-old"), T0)
    assert isinstance(post, cs.Post) and error_type(post.message) == "Relay.ClientRestarted"
    assert json.loads(post.message.payload)["errorMessage"] == (  # type: ignore[union-attr]
        "`relay start` for stage alice was restarted while this invocation ran "
        "(it may have run in part); repeat the request"
    )
    # ... while one first sent to this process's earlier connection runs (never got it)
    session.received(m.Welcome(STAGE, "c-newer", "c-newer"), T0)
    assert session.received(invoke("i2", first_to="c-new"), T0) == [
        cs.Run(invoke("i2", first_to="c-new"))
    ]


def test_stop_answers_running_invocations_once() -> None:
    session = cs.ClientSession(STAGE)
    session.received(invoke(), T0)
    post, cancel = session.stop(T0 + 1)
    assert isinstance(post, cs.Post) and error_type(post.message) == "Relay.ClientStopped"
    assert cancel == cs.Cancel("i1")
    assert session.finished("i1", m.Result("i1", b"late"), T0 + 2) == []
    assert session.received(invoke("i2"), T0 + 3) == []  # not taken while stopping


def test_replaced_exits_and_lets_running_ones_answer() -> None:
    session = cs.ClientSession(STAGE)
    session.received(invoke(), T0)
    (exit_,) = session.received(m.Replaced(STAGE, "c2"), T0)
    assert exit_ == cs.Exit(
        cs.EXIT_REPLACED, "relay: replaced by another `relay start` for stage alice; stopping"
    )
    (post,) = session.finished("i1", m.Result("i1", b"1"), T0 + 1)
    assert post.message == m.Result("i1", b"1")


def test_heartbeat_and_reconnect_before_the_gateway_limits() -> None:
    session = cs.ClientSession(STAGE)
    session.connected(T0)
    assert session.wake == T0 + cs.HEARTBEAT and cs.HEARTBEAT < 350
    (ping,) = session.timer(T0 + cs.HEARTBEAT)
    assert isinstance(ping, cs.Send) and isinstance(ping.message, m.Ping)
    now = T0
    while True:
        now = session.wake  # type: ignore[assignment]
        actions = session.timer(now)
        if cs.Reconnect() in actions:
            break
    assert now == T0 + cs.RECONNECT_AFTER < T0 + 2 * 3600
    session.disconnected()
    assert session.wake is None
