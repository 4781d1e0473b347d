"""The whole link as a model: stub sessions, client sessions and a gateway, on a simulated
clock, driven by hypothesis through stubs' invocations, handlers finishing, connections
dropping, `relay start` reconnecting, killed and restarted, and posts failing.

No sockets and no sleeps: the gateway is a few dicts; time moves only when a rule says so,
and every machine's timer runs exactly when its ``wake`` says. What must hold whatever the
order: every invocation ends with exactly one answer or one clear error; no invocation runs
twice (even across a killed and restarted client); an answer is always the one its own run
produced; and while the client that ran an invocation stays up, its answer is never lost,
whatever re-handshakes the stub goes through.
"""

from __future__ import annotations

import heapq
import json
from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from relay.link import client_session as cs
from relay.link import messages as m
from relay.link import stub_session as ss

STAGE = "alice"


@dataclass
class Env:
    """One Lambda execution environment running the stub."""

    name: str
    session: ss.StubSession
    conn: str | None = None  # its open gateway connection
    invocation: str | None = None  # the invocation it forwards now
    actions: list[ss.Action] = field(default_factory=list)


@dataclass
class Process:
    """One `relay start` process."""

    name: str
    session: cs.ClientSession
    conn: str | None = None
    alive: bool = True
    running: set[str] = field(default_factory=set)


@dataclass
class Outcome:
    kind: str  # "finish" or a stub_session fail kind
    answer: m.Result | m.Error | None
    at: float


class LinkModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 1_000.0
        self.seq = 0
        self.envs = [Env(f"env{i}", ss.StubSession(STAGE, new_nonce=self._nonce)) for i in (0, 1)]
        self.processes: list[Process] = []
        self.inbox: dict[str, list[m.Message]] = {}  # open connection id -> pending messages
        self.owner: dict[str, object] = {}  # open connection id -> Env or Process
        self.client_record: str | None = None  # the connect handler's stage client
        self.runs: dict[str, list[str]] = {}  # invocation id -> processes that ran it
        self.outcomes: dict[str, list[Outcome]] = {}
        self.deadlines: dict[str, float] = {}
        self.fail_next_posts = 0
        self.lose_client_posts = 0
        self.handler_latency = 0.0  # the connect handler's time to answer a stub's hello
        self.timed: list[tuple[float, int, str, m.Message]] = []  # (when, seq, conn, message)
        self.tainted: set[str] = set()  # invocations whose client went away or lost a post
        self.answered: dict[str, m.Message] = {}  # answers a waiting stub has read

    # -- helpers --------------------------------------------------------------------------

    def _nonce(self) -> str:
        self.seq += 1
        return f"n{self.seq}"

    def _open(self, owner: object, prefix: str) -> str:
        self.seq += 1
        conn = f"{prefix}{self.seq}"
        self.inbox[conn] = []
        self.owner[conn] = owner
        return conn

    def _drop(self, conn: str | None) -> None:
        if conn is not None:
            self.inbox.pop(conn, None)
            self.owner.pop(conn, None)
            if self.client_record == conn:
                self.client_record = None  # $disconnect removes the stage's client

    def _live_client(self) -> Process | None:
        return next((p for p in self.processes if p.alive and p.conn is not None), None)

    # -- the stub's driver ----------------------------------------------------------------

    def _stub(self, env: Env, actions: list[ss.Action]) -> None:
        queue = list(actions)
        while queue:
            action = queue.pop(0)
            assert env.invocation is not None or isinstance(action, ss.Echo | ss.Close), action
            if isinstance(action, ss.Connect):
                assert action.until <= self.deadlines[env.invocation] + 1e-9
                env.conn = self._open(env, "s")
                queue += env.session.connect_succeeded(self.now)
            elif isinstance(action, ss.Close):
                self._drop(env.conn)
                env.conn = None
            elif isinstance(action, ss.Send):
                assert env.conn is not None, "sent on a closed socket"
                if isinstance(action.message, m.Hello):  # the connect handler answers
                    welcome = m.Welcome(STAGE, env.conn, self.client_record, action.message.nonce)
                    self.seq += 1
                    when = self.now + self.handler_latency
                    heapq.heappush(self.timed, (when, self.seq, env.conn, welcome))
            elif isinstance(action, ss.Post):
                assert action.invoke.id == env.invocation
                assert action.invoke.reply_to == env.session.connection_id
                if self.fail_next_posts:
                    self.fail_next_posts -= 1
                    queue += env.session.post_failed(self.now, "429 TooManyRequests", True)
                elif action.to in self.inbox and isinstance(self.owner[action.to], Process):
                    self.inbox[action.to].append(action.invoke)
                    queue += env.session.posted(self.now)
                else:
                    queue += env.session.post_gone(self.now)
            elif isinstance(action, ss.Finish | ss.Fail):
                assert not queue, "actions after the end"
                invocation = env.invocation
                answer = action.answer if isinstance(action, ss.Finish) else None
                kind = "finish" if isinstance(action, ss.Finish) else action.kind
                self.outcomes.setdefault(invocation, []).append(Outcome(kind, answer, self.now))
                env.invocation = None

    # -- the client's driver --------------------------------------------------------------

    def _client(self, process: Process, actions: list[cs.Action]) -> None:
        for action in actions:
            if isinstance(action, cs.Run):
                assert process.alive
                self.runs.setdefault(action.invoke.id, []).append(process.name)
                process.running.add(action.invoke.id)
            elif isinstance(action, cs.Cancel):
                process.running.discard(action.invocation_id)
            elif isinstance(action, cs.Post):
                if self.lose_client_posts:  # failed after the driver's retries
                    self.lose_client_posts -= 1
                    self.tainted.add(action.invoke.id)
                elif action.to in self.inbox and isinstance(self.owner[action.to], Env):
                    self.inbox[action.to].append(action.message)
                # else 410: the answer stays in the table for the stub's retry
            elif isinstance(action, cs.Send):
                if process.conn is not None and isinstance(action.message, m.Hello):
                    welcome = m.Welcome(STAGE, process.conn, process.conn)
                    self.inbox[process.conn].append(welcome)
            elif isinstance(action, cs.Reconnect):
                self._reconnect(process)
            elif isinstance(action, cs.Exit):
                process.conn and self._drop(process.conn)
                process.conn = None

    def _connect_client(self, process: Process) -> None:
        old = self.client_record
        process.conn = self._open(process, "c")
        self.client_record = process.conn
        if old is not None and old in self.inbox and old != process.conn:
            self.inbox[old].append(m.Replaced(STAGE, by=process.conn))
        self._client(process, process.session.connected(self.now))

    def _reconnect(self, process: Process) -> None:
        self._drop(process.conn)
        process.conn = None
        self._client(process, process.session.disconnected())
        self._connect_client(process)

    # -- rules ----------------------------------------------------------------------------

    @rule()
    def start_client(self) -> None:
        if self._live_client() is None:
            process = Process(f"p{len(self.processes)}", cs.ClientSession(STAGE))
            self.processes.append(process)
            self._connect_client(process)

    @rule(which=st.integers(0, 1), seconds=st.sampled_from([1.0, 3.0, 10.0, 30.0]))
    def invoke(self, which: int, seconds: float) -> None:
        env = self.envs[which]
        if env.invocation is not None:
            return
        self.seq += 1
        invocation = f"i{self.seq}"
        env.invocation = invocation
        deadline = self.now + seconds
        self.deadlines[invocation] = deadline
        invoke = m.Invoke(
            id=invocation,
            reply_to="-",
            stage=STAGE,
            function_name="fn",
            request_id=f"r-{invocation}",
            deadline_ms=int(deadline * 1000),
            payload=b"{}",
        )
        self._stub(env, env.session.start(invoke, self.now, deadline))

    @precondition(lambda self: any(self.inbox.values()))
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        """The gateway hands one pending message to its connection (in order per connection,
        in any order across connections)."""
        self._deliver(data.draw(st.sampled_from(sorted(c for c, q in self.inbox.items() if q))))

    def _deliver(self, conn: str) -> None:
        message = self.inbox[conn].pop(0)
        owner = self.owner[conn]
        if isinstance(owner, Env):
            if owner.invocation is None:
                return  # read at the next invocation; its ids are stale then
            if isinstance(message, m.Result | m.Error) and message.id == owner.invocation:
                self.answered[message.id] = message
            self._stub(owner, owner.session.received(message, self.now))
        elif isinstance(owner, Process) and owner.alive:
            self._client(owner, owner.session.received(message, self.now))

    def _flush(self) -> None:
        """Deliver everything pending (the network is fast next to the link's timers)."""
        while any(self.inbox.values()):
            self._deliver(next(c for c, q in sorted(self.inbox.items()) if q))

    @precondition(lambda self: any(p.running for p in self.processes if p.alive))
    @rule(data=st.data(), error=st.booleans())
    def handler_finishes(self, data: st.DataObject, error: bool) -> None:
        process = data.draw(st.sampled_from([p for p in self.processes if p.alive and p.running]))
        invocation = data.draw(st.sampled_from(sorted(process.running)))
        process.running.discard(invocation)
        answer: m.Result | m.Error
        if error:
            doc = {"errorMessage": f"failed {invocation}", "errorType": "ValueError"}
            answer = m.Error(invocation, json.dumps(doc).encode())
        else:
            answer = m.Result(invocation, f"result of {invocation}".encode())
        self._client(process, process.session.finished(invocation, answer, self.now))

    @rule(seconds=st.sampled_from([0.1, 0.3, 1.0, 2.5, 7.0, 40.0]))
    def time_passes(self, seconds: float) -> None:
        """Time moves on; every machine's timer runs exactly when it is due."""
        until = self.now + seconds
        while True:
            self._flush()
            wakes: list[tuple[float | None, object]] = [
                (e.session.wake, e) for e in self.envs if e.invocation is not None
            ]
            if self.timed:
                wakes.append((self.timed[0][0], None))
            wakes += [(p.session.wake, p) for p in self.processes if p.alive]
            due = [(w, o) for w, o in wakes if w is not None and w <= until]
            if not due:
                break
            when, owner = min(due, key=lambda pair: pair[0])
            self.now = max(self.now, when)
            if owner is None:  # a late message reaches its connection
                _, _, conn, message = heapq.heappop(self.timed)
                if conn in self.inbox:
                    self.inbox[conn].append(message)
            elif isinstance(owner, Env):
                self._stub(owner, owner.session.timer(self.now))
            else:
                assert isinstance(owner, Process)
                self._client(owner, owner.session.timer(self.now))
        self.now = until

    @precondition(lambda self: any(e.conn in self.inbox for e in self.envs))
    @rule(which=st.integers(0, 1))
    def stub_connection_drops(self, which: int) -> None:
        """The gateway closes a stub's connection (deleted, idle, 2 h, network)."""
        env = self.envs[which]
        if env.conn is None or env.conn not in self.inbox:
            return
        self._drop(env.conn)
        env.conn = None
        self._stub(env, env.session.closed(self.now))

    @precondition(lambda self: self._live_client() is not None)
    @rule()
    def client_reconnects(self) -> None:
        """`relay start` loses its connection and opens a new one (same process)."""
        process = self._live_client()
        assert process is not None
        self._reconnect(process)

    @precondition(lambda self: self._live_client() is not None)
    @rule()
    def client_killed(self) -> None:
        """SIGKILL: the process and its connection vanish; nothing is answered."""
        process = self._live_client()
        assert process is not None
        process.alive = False
        self._taint_unanswered(process)
        self._drop(process.conn)
        process.conn = None

    def _taint_unanswered(self, process: Process) -> None:
        """A client that goes away takes with it what it was running and every answer that
        had not reached its stub yet (in flight, or kept for the stub's retry after a 410):
        nobody is left to post it again once the stub's connection drops."""
        self.tainted |= process.running
        self.tainted |= {
            invocation
            for invocation, processes in self.runs.items()
            if process.name in processes and invocation not in self.answered
        }

    @precondition(lambda self: self._live_client() is not None)
    @rule()
    def client_stopped(self) -> None:
        """Ctrl-C: running invocations are answered Relay.ClientStopped."""
        process = self._live_client()
        assert process is not None
        self._taint_unanswered(process)
        self._client(process, process.session.stop(self.now))
        process.alive = False
        self._drop(process.conn)
        process.conn = None

    @rule(latency=st.sampled_from([0.0, 0.5, 2.0]))
    def connect_handler_speed(self, latency: float) -> None:
        """The connect handler (a Lambda, maybe cold) takes this long to answer a hello."""
        self.handler_latency = latency

    @rule(count=st.integers(1, 2))
    def client_posts_lost(self, count: int) -> None:
        """The client's next posts fail even after its retries (throttled, network)."""
        self.lose_client_posts = count

    @rule(count=st.integers(1, 3))
    def posts_throttled(self, count: int) -> None:
        """PostToConnection answers 429 to the stub's next posts."""
        self.fail_next_posts = count

    # -- invariants -----------------------------------------------------------------------

    @invariant()
    def no_invocation_runs_twice(self) -> None:
        for invocation, processes in self.runs.items():
            assert len(processes) == 1, (invocation, processes)

    @invariant()
    def at_most_one_outcome_each_the_right_one(self) -> None:
        for invocation, outcomes in self.outcomes.items():
            assert len(outcomes) == 1, (invocation, outcomes)
            (outcome,) = outcomes
            assert outcome.at <= self.deadlines[invocation], "answered after the deadline"
            if outcome.answer is not None:
                assert outcome.answer.id == invocation
                relay_side = isinstance(
                    outcome.answer, m.Error
                ) and outcome.answer.error_type.startswith("Relay.")
                if not relay_side:
                    assert invocation in self.runs, "an answer without a run"
                    assert invocation.encode() in outcome.answer.payload
            elif outcome.kind == ss.LOST:
                assert invocation in self.runs, "lost although no client ever ran it"

    @invariant()
    def an_answer_read_is_never_dropped(self) -> None:
        """An answer that reached its waiting stub is what the caller gets, whatever the stub
        was doing then (a hello to re-check the client, a reconnect, a post retry)."""
        for invocation, answer in self.answered.items():
            (outcome,) = self.outcomes[invocation]
            assert outcome.answer == answer, (invocation, outcome)

    @invariant()
    def a_healthy_run_is_never_lost(self) -> None:
        """A client that ran an invocation and stayed up: the stub gets its answer (or its
        own deadline passed first)."""
        for invocation, outcomes in self.outcomes.items():
            if invocation in self.runs and invocation not in self.tainted:
                (outcome,) = outcomes
                assert outcome.kind in ("finish", ss.TIMEOUT, ss.DEADLINE), (invocation, outcome)

    def teardown(self) -> None:
        """Every invocation ends: handlers finish, messages flow, time runs to the deadlines."""
        for _ in range(200):
            if all(e.invocation is None for e in self.envs):
                break
            self._flush()
            for process in self.processes:
                for invocation in sorted(process.running) if process.alive else []:
                    process.running.discard(invocation)
                    answer = m.Result(invocation, f"result of {invocation}".encode())
                    self._client(process, process.session.finished(invocation, answer, self.now))
            self.lose_client_posts = 0
            if not any(self.inbox.values()):
                self.time_passes(0.5)
        assert all(e.invocation is None for e in self.envs), "an invocation never ended"
        self.at_most_one_outcome_each_the_right_one()
        self.no_invocation_runs_twice()
        self.an_answer_read_is_never_dropped()
        self.a_healthy_run_is_never_lost()


LinkModel.TestCase.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)
test_link_model = LinkModel.TestCase
