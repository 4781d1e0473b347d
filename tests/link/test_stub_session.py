"""The stub's session machine against an adversarial world: any message at any moment, any
outcome of a connect or a post, the socket closing anywhere, time jumping.

The stateful test checks what the stub's caller relies on; the examples below pin the
scenarios found by review (issue 11) and the measured timings (docs/architecture.md).
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from relay.link import messages as m
from relay.link import stub_session as ss

STAGE = "alice"
T0 = 1_000.0


def invoke(invocation: str = "i1", deadline: float = T0 + 30) -> m.Invoke:
    return m.Invoke(
        id=invocation,
        reply_to="-",
        stage=STAGE,
        function_name="fn",
        request_id="r",
        deadline_ms=int(deadline * 1000),
        payload=b"{}",
    )


def result(invocation: str = "i1") -> m.Result:
    return m.Result(invocation, b'{"ok": true}')


def hello_nonce(actions: list[ss.Action]) -> str:
    (send,) = [a for a in actions if isinstance(a, ss.Send)]
    assert isinstance(send.message, m.Hello)
    return send.message.nonce


class StubSessionWorld(RuleBasedStateMachine):
    """Every outcome the driver can report, in any order the machine allows."""

    def __init__(self) -> None:
        super().__init__()
        self.session = ss.StubSession(STAGE)
        self.now = T0
        self.count = 0
        self.current: m.Invoke | None = None
        self.deadline = 0.0
        self.pending: ss.Action | None = None  # a Connect or Post awaiting its outcome
        self.nonce: str | None = None  # the latest hello's
        self.ended = 0
        self.last: list[ss.Action] = []
        self.welcomed: tuple[str, str | None] | None = None

    def _apply(self, actions: list[ss.Action]) -> None:
        self.last = actions
        ends = [a for a in actions if isinstance(a, ss.Finish | ss.Fail)]
        assert len(ends) <= 1 and (not ends or actions[-1] is ends[0]), actions
        for action in actions:
            if isinstance(action, ss.Connect | ss.Post):
                assert self.pending is None, "two outcomes awaited at once"
                self.pending = action
            if isinstance(action, ss.Connect):
                assert action.until <= self.deadline
            if isinstance(action, ss.Send) and isinstance(action.message, m.Hello):
                self.nonce = action.message.nonce
            if isinstance(action, ss.Post):
                assert self.current is not None and action.invoke.id == self.current.id
                assert self.welcomed is not None, "posted before learning the ids"
                assert (action.invoke.reply_to, action.to) == self.welcomed
        if ends:
            self.ended += 1
            self.current = None
            self.pending = None

    @property
    def active(self) -> bool:
        return self.current is not None

    @precondition(lambda self: not self.active)
    @rule(seconds=st.sampled_from([0.1, 2.0, 10.0, 60.0]), idle=st.sampled_from([0, 100, 400]))
    def start(self, seconds: float, idle: float) -> None:
        self.now += idle
        self.count += 1
        self.current = invoke(f"i{self.count}", self.now + seconds)
        self.deadline = self.now + seconds
        self._apply(self.session.start(self.current, self.now, self.deadline))

    @precondition(lambda self: isinstance(self.pending, ss.Connect))
    @rule(ok=st.booleans(), refused=st.booleans())
    def connect_outcome(self, ok: bool, refused: bool) -> None:
        self.pending = None
        if ok:
            self._apply(self.session.connect_succeeded(self.now))
        else:
            self._apply(self.session.connect_failed(self.now, "boom", refused))

    @precondition(lambda self: isinstance(self.pending, ss.Post))
    @rule(outcome=st.sampled_from(["ok", "gone", "429", "403"]))
    def post_outcome(self, outcome: str) -> None:
        self.pending = None
        if outcome == "ok":
            self._apply(self.session.posted(self.now))
        elif outcome == "gone":
            self._apply(self.session.post_gone(self.now))
        else:
            self._apply(self.session.post_failed(self.now, outcome, outcome == "429"))

    @precondition(lambda self: self.active and self.nonce is not None and self.pending is None)
    @rule(client=st.sampled_from([None, "c1", "c2"]), own=st.sampled_from(["s1", "s2"]))
    def welcome(self, client: str | None, own: str) -> None:
        assert self.nonce is not None
        if self.session.phase in (ss.HELLO, ss.CHECKING):
            self.welcomed = (own, client)
        nonce, self.nonce = self.nonce, None
        self._apply(self.session.received(m.Welcome(STAGE, own, client, nonce), self.now))

    @precondition(lambda self: self.active and self.pending is None)
    @rule(kind=st.sampled_from(["ack", "log", "result", "error", "other", "stale-welcome"]))
    def message(self, kind: str) -> None:
        assert self.current is not None
        invocation = self.current.id
        doc = json.dumps({"errorMessage": "no", "errorType": "ValueError"}).encode()
        message: m.Message = {
            "ack": m.Ack(invocation),
            "log": m.Log(invocation, "a line\n"),
            "result": result(invocation),
            "error": m.Error(invocation, doc),
            "other": m.Result("someone-else", b"{}"),
            "stale-welcome": m.Welcome(STAGE, "s9", "c9", "old-nonce"),
        }[kind]
        phase = self.session.phase
        actions = self.session.received(message, self.now)
        self._apply(actions)
        if kind in ("result", "error"):
            # An answer is never lost, whatever the stub was doing (issue 11: hello() dropped
            # an ack or result that arrived while it re-handshook).
            assert actions == [ss.Finish(message)], (phase, actions)  # type: ignore[arg-type]
        if kind == "ack":
            assert self.session.acked

    @precondition(lambda self: self.active and self.pending is None)
    @rule()
    def socket_closes(self) -> None:
        self._apply(self.session.closed(self.now))

    @precondition(lambda self: self.active and self.pending is None)
    @rule(jump=st.sampled_from([0.05, 0.25, 1.0, 3.0, 7.0, 300.0]))
    def time_passes(self, jump: float) -> None:
        wake = self.session.wake
        assert wake is not None, "waiting on nothing"
        self.now = min(self.now + jump, max(wake, self.now))
        self._apply(self.session.timer(self.now))

    @invariant()
    def never_waits_past_the_deadline(self) -> None:
        if self.active and self.session.wake is not None:
            assert self.session.wake <= self.deadline - ss.DEADLINE_MARGIN + 1e-9

    @invariant()
    def done_exactly_when_ended(self) -> None:
        assert (self.current is None) == (self.session.phase in (ss.IDLE, ss.DONE))
        assert self.ended == self.count - (1 if self.active else 0)


StubSessionWorld.TestCase.settings = settings(
    max_examples=300, stateful_step_count=40, deadline=None
)
test_stub_session_world = StubSessionWorld.TestCase


# --- scenarios ------------------------------------------------------------------------------


def warm(session: ss.StubSession, client: str = "c1") -> None:
    """Bring a session to a warm state: connected, ids known, one invocation answered."""
    actions = session.start(invoke("warmup"), T0, T0 + 30)
    assert actions == [ss.Connect(T0 + 20)]
    nonce = hello_nonce(session.connect_succeeded(T0))
    (post,) = session.received(m.Welcome(STAGE, "s1", client, nonce), T0)
    assert post == ss.Post(client, replace(invoke("warmup"), reply_to="s1"))
    assert session.posted(T0) == []
    assert session.received(result("warmup"), T0) == [ss.Finish(result("warmup"))]


def test_warm_path_is_one_post_and_one_answer() -> None:
    session = ss.StubSession(STAGE)
    warm(session)
    (post,) = session.start(invoke("i1"), T0 + 1, T0 + 31)
    assert isinstance(post, ss.Post) and post.to == "c1" and post.invoke.reply_to == "s1"
    assert post.invoke.first_to is None
    assert session.posted(T0 + 1) == []
    assert session.received(result(), T0 + 1.01) == [ss.Finish(result())]


@pytest.mark.parametrize("answer", [m.Ack("i1"), result()])
def test_an_answer_during_the_silence_check_is_kept(answer: m.Message) -> None:
    """Issue 11: an ack or result arriving while the stub re-handshakes was dropped."""
    session = ss.StubSession(STAGE)
    warm(session)
    session.start(invoke("i1"), T0 + 1, T0 + 31)
    session.posted(T0 + 1)
    assert session.wake == T0 + 1 + ss.NO_CLIENT_AFTER
    check = session.timer(T0 + 4)  # 3 s of silence: hello to see whether the client moved
    assert session.phase == ss.CHECKING
    nonce = hello_nonce(check)
    actions = session.received(answer, T0 + 4.1)
    if isinstance(answer, m.Result):
        assert actions == [ss.Finish(answer)]
        return
    assert actions == [] and session.phase == ss.WAITING and session.acked
    assert session.received(m.Welcome(STAGE, "s1", "c1", nonce), T0 + 4.2) == []
    assert session.received(result(), T0 + 9) == [ss.Finish(result())]  # within the 6 s


def test_an_answer_during_a_reconnect_handshake_is_kept() -> None:
    session = ss.StubSession(STAGE)
    warm(session)
    session.start(invoke("i1"), T0 + 1, T0 + 31)
    session.posted(T0 + 1)
    assert session.closed(T0 + 2) == [ss.Connect(T0 + 22)]
    hello_nonce(session.connect_succeeded(T0 + 2.1))
    assert session.received(result(), T0 + 2.2) == [ss.Finish(result())]


def test_no_client_is_a_clear_error_after_three_seconds_of_pauses() -> None:
    session = ss.StubSession(STAGE)
    session.start(invoke(), T0, T0 + 30)
    now, nonce = T0, hello_nonce(session.connect_succeeded(T0))
    polls = 0
    while True:
        actions = session.received(m.Welcome(STAGE, "s1", None, nonce), now)
        if actions:
            break
        polls += 1
        now = session.wake  # type: ignore[assignment]
        nonce = hello_nonce(session.timer(now))
    (fail,) = actions
    assert isinstance(fail, ss.Fail) and fail.kind == ss.NOT_CONNECTED
    assert fail.text == (
        "relay: no relay client is running for stage 'alice'; "
        "run `relay start --stage alice` and invoke again"
    )
    assert now == pytest.approx(T0 + ss.NO_CLIENT_AFTER)  # 3 s of pauses, nothing else
    assert polls == 5  # 0.25, 0.5, 1, 1, 0.25 s: fewer hellos through the connect handler


def test_a_client_that_answered_410_gets_ten_seconds_to_reconnect() -> None:
    session = ss.StubSession(STAGE)
    warm(session)
    session.start(invoke("i1"), T0, T0 + 60)
    nonce = hello_nonce(session.post_gone(T0))
    now = T0
    while True:
        actions = session.received(m.Welcome(STAGE, "s1", "c1", nonce), now)  # still the old
        if actions:
            break
        now = session.wake  # type: ignore[assignment]
        nonce = hello_nonce(session.timer(now))
    (fail,) = actions
    assert isinstance(fail, ss.Fail) and fail.kind == ss.NOT_CONNECTED
    assert now == pytest.approx(T0 + ss.RECONNECT_GRACE)


def test_a_client_back_from_a_reconnect_gets_the_invocation() -> None:
    session = ss.StubSession(STAGE)
    warm(session)
    session.start(invoke("i1"), T0, T0 + 60)
    nonce = hello_nonce(session.post_gone(T0))
    assert session.received(m.Welcome(STAGE, "s1", None, nonce), T0 + 0.1) == []  # between
    nonce = hello_nonce(session.timer(session.wake))  # type: ignore[arg-type]
    (post,) = session.received(m.Welcome(STAGE, "s1", "c2", nonce), T0 + 0.5)
    assert isinstance(post, ss.Post) and post.to == "c2"
    assert post.invoke.first_to is None  # the 410'd post was never delivered: a first post


def test_silence_after_acks_is_a_lost_client_after_six_seconds() -> None:
    session = ss.StubSession(STAGE)
    warm(session)
    session.start(invoke("i1"), T0, T0 + 60)
    session.posted(T0)
    session.received(m.Ack("i1"), T0 + 0.25)
    assert session.wake == T0 + 0.25 + ss.ACK_SILENCE
    nonce = hello_nonce(session.timer(T0 + 6.25))
    (fail,) = session.received(m.Welcome(STAGE, "s1", "c1", nonce), T0 + 6.3)
    assert isinstance(fail, ss.Fail) and fail.kind == ss.LOST


def test_a_moved_client_gets_the_invocation_again_with_its_first_connection() -> None:
    session = ss.StubSession(STAGE)
    warm(session)
    session.start(invoke("i1"), T0, T0 + 60)
    session.posted(T0)
    nonce = hello_nonce(session.timer(T0 + 3))
    (post,) = session.received(m.Welcome(STAGE, "s1", "c2", nonce), T0 + 3.1)
    assert isinstance(post, ss.Post) and post.to == "c2" and post.invoke.first_to == "c1"


def test_own_connection_changed_means_posting_again_even_to_the_same_client() -> None:
    """Issue 11: after reconnecting, the stub re-sent only when the client's id changed."""
    session = ss.StubSession(STAGE)
    warm(session)
    session.start(invoke("i1"), T0, T0 + 60)
    session.posted(T0)
    session.closed(T0 + 1)
    nonce = hello_nonce(session.connect_succeeded(T0 + 1))
    (post,) = session.received(m.Welcome(STAGE, "s2", "c1", nonce), T0 + 1.1)
    assert isinstance(post, ss.Post) and post.invoke.reply_to == "s2" and post.to == "c1"


def test_idle_warm_connection_is_replaced_before_a_nat_drops_it() -> None:
    """Issue 11: a NAT gateway drops idle connections at 350 s; the stub waited 540 s."""
    session = ss.StubSession(STAGE)
    warm(session)
    assert ss.IDLE_RECONNECT <= 300 and ss.PING_EVERY < 350
    actions = session.start(invoke("i1"), T0 + 301, T0 + 331)
    assert actions == [ss.Close(), ss.Connect(T0 + 321)]
    session = ss.StubSession(STAGE)
    warm(session)
    (post,) = session.start(invoke("i1"), T0 + 299, T0 + 329)
    assert isinstance(post, ss.Post)


def test_long_invocation_pings_before_the_nat_timeout() -> None:
    session = ss.StubSession(STAGE)
    warm(session)
    session.start(invoke("i1", T0 + 900), T0, T0 + 900)
    session.posted(T0)
    now = T0
    for _ in range(200):
        session.received(m.Ack("i1"), now)  # the client acks every 2 s
        now += 2.0
        for action in session.timer(now):
            assert isinstance(action, ss.Send) and isinstance(action.message, m.Ping)
            assert now - T0 <= ss.PING_EVERY + 2
            return
    raise AssertionError("no ping")


def test_throttled_posts_are_retried_with_backoff() -> None:
    """Issue 11: PostToConnection's 429/5xx were a RelayError at once."""
    session = ss.StubSession(STAGE)
    warm(session)
    (post,) = session.start(invoke("i1"), T0, T0 + 30)
    assert session.post_failed(T0, "429", retryable=True) == []
    assert session.wake == T0 + ss.POST_BACKOFF[0]
    assert session.timer(T0 + ss.POST_BACKOFF[0]) == [post]
    assert session.post_failed(T0 + 0.05, "503", retryable=True) == []
    assert session.wake == pytest.approx(T0 + 0.05 + ss.POST_BACKOFF[1])
    assert session.timer(T0 + 0.15) == [post]
    (fail,) = session.post_failed(T0 + 0.15, "403", retryable=False)
    assert isinstance(fail, ss.Fail) and fail.kind == ss.ERROR and "403" in fail.text


def test_refused_handshake_is_not_retried_and_failed_one_is_once() -> None:
    session = ss.StubSession(STAGE)
    session.start(invoke(), T0, T0 + 30)
    (fail,) = session.connect_failed(T0 + 0.1, "HTTP 403", refused=True)
    assert isinstance(fail, ss.Fail) and "HTTP 403" in fail.text
    session.start(invoke("i2"), T0, T0 + 30)
    assert session.connect_failed(T0 + 1, "timed out") == [ss.Connect(T0 + 20)]
    (fail,) = session.connect_failed(T0 + 2, "timed out")
    assert isinstance(fail, ss.Fail) and fail.kind == ss.ERROR


def test_deadline_while_the_client_runs_it_is_lambdas_own_timeout() -> None:
    """Acked and alive at the deadline (a breakpoint, or a local timeout's answer still on
    its way): the function timed out, as Lambda says; not 'was relay start stopped?'."""
    session = ss.StubSession(STAGE)
    warm(session)
    session.start(invoke("i1", T0 + 2), T0, T0 + 2)
    session.posted(T0)
    session.received(m.Ack("i1"), T0 + 0.3)
    assert session.wake == pytest.approx(T0 + 2 - ss.DEADLINE_MARGIN)
    (fail,) = session.timer(T0 + 2 - ss.DEADLINE_MARGIN)
    assert isinstance(fail, ss.Fail) and fail.kind == ss.DEADLINE


def test_deadline_without_a_word_from_the_client_is_a_relay_timeout() -> None:
    session = ss.StubSession(STAGE)
    warm(session)
    session.start(invoke("i1", T0 + 2), T0, T0 + 2)
    session.posted(T0)  # no ack within the 3 s window, which the deadline cuts
    (fail,) = session.timer(T0 + 2 - ss.DEADLINE_MARGIN)
    assert isinstance(fail, ss.Fail) and fail.kind == ss.TIMEOUT
