"""The stub: runs in AWS in place of each function and forwards invocations to ``relay start``.

One WebSocket per execution environment, opened with SigV4 (the function's own role) and
reused while warm. Warm path per invocation: one PostToConnection to the stage's relay client,
then the answer arrives on this socket (the client posts it to our connection). No DynamoDB,
no extra Lambda. The cold path (``hello`` on ``$default``) learns our own connection id and the
client's. Lambda's environment and ``RELAY_*`` variables (see docs/architecture.md) configure it.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from typing import Any

try:  # in the stub asset, messages.py and signing.py are sibling modules
    import messages
    import signing
except ModuleNotFoundError:  # in relay's own source tree
    from relay.client import signing  # type: ignore[no-redef]
    from relay.link import messages  # type: ignore[no-redef]

#: Neither ack nor result within this long means no relay client is listening.
NO_CLIENT_AFTER = 3.0
#: The client re-acks a running invocation every 2 s; this much silence means it is gone.
ACK_SILENCE = 6.0
#: Keep API Gateway's 10-minute idle timeout away while a long invocation runs.
PING_EVERY = 300.0
#: Reconnect proactively after this long without traffic (the gateway may have dropped us).
IDLE_RECONNECT = 9 * 60.0
#: API Gateway closes a connection after 2 h; never start a wait that would cross it.
MAX_CONNECTION_AGE = 2 * 3600.0 - 5 * 60.0
#: Leave this much of the function's time to return a clear timeout error ourselves.
DEADLINE_MARGIN_MS = 150
HELLO_RETRY = 0.25
#: The cold path (the SigV4 handshake, whose $connect runs the connect handler, a Lambda that
#: may be cold, then hello/welcome through it again) may take this long, within the
#: function's own time; the 3 s "no client" window starts only once the invoke is posted.
COLD_PATH_LIMIT = 20.0
MAX_MESSAGE = 8 * 1024 * 1024

#: Lambda's reserved variables and relay's own: not part of the function's environment.
RESERVED = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_DEFAULT_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_FORMAT",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_LEVEL",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_REGION",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_XRAY_CONTEXT_MISSING",
        "AWS_XRAY_DAEMON_ADDRESS",
        "IS_LOCAL",
        "LAMBDA_RUNTIME_DIR",
        "LAMBDA_TASK_ROOT",
        "LANG",
        "LD_LIBRARY_PATH",
        "PATH",
        "PYTHONPATH",
        "TZ",
    }
)


class RelayError(Exception):
    """relay could not run the invocation on the laptop; the message says what to do."""


class RelayClientNotConnected(RelayError):
    """No ``relay start`` is serving this function's stage."""


class RelayClientLost(RelayError):
    """The relay client took the invocation, then went silent (stopped, crashed, offline)."""


class RelayTimeout(RelayError):
    """The relay client took the invocation but sent no answer before the deadline."""


class _Link:
    """This execution environment's WebSocket and what it has learned (cached while warm)."""

    def __init__(self) -> None:
        self.ws: Any = None
        self.opened_at = 0.0
        self.last_traffic = 0.0
        self.connection_id: str | None = None
        self.client_id: str | None = None
        self._clients: dict[str, Any] = {}

    # -- configuration ----------------------------------------------------------------------

    @property
    def stage(self) -> str:
        return _env("RELAY_STAGE")

    def _boto(self, service: str) -> Any:
        """boto3 only for the overflow bucket (rare): importing it costs cold-start time."""
        client = self._clients.get(service)
        if client is None:
            import boto3

            client = boto3.client(service)
            self._clients[service] = client
        return client

    def _connections_api(self) -> signing.ConnectionsApi:
        api = self._clients.get("@connections")
        if api is None:
            api = signing.ConnectionsApi(
                _env("RELAY_CONNECTIONS_ENDPOINT"), _role_credentials(), _region()
            )
            self._clients["@connections"] = api
        return api

    # -- the connection ---------------------------------------------------------------------

    def ensure(self, budget_s: float, until: float) -> None:
        """An open socket that will stay open for ``budget_s`` more seconds, opened by
        ``until`` (monotonic) at the latest."""
        now = time.monotonic()
        if self.ws is not None and (
            now - self.opened_at + budget_s > MAX_CONNECTION_AGE
            or now - self.last_traffic > IDLE_RECONNECT
            or not _is_open(self.ws)
        ):
            self.close()
        if self.ws is None:
            self.open(until)

    def open(self, until: float) -> None:
        """Connect by ``until``; a handshake that fails (not refused) is tried once more."""
        from websockets.exceptions import InvalidStatus
        from websockets.sync.client import connect

        url = signing.with_query(_env("RELAY_WS_URL"), {"role": "stub", "stage": self.stage})
        started = time.monotonic()
        failure: Exception | None = None
        for _attempt in (1, 2):
            remaining = until - time.monotonic()
            if remaining <= 0:
                break
            headers = signing.handshake_headers(url, _role_credentials(), _region())
            try:
                self.ws = connect(
                    url,
                    additional_headers=headers,
                    max_size=MAX_MESSAGE,
                    compression=None,
                    ping_interval=None,  # a frozen environment cannot answer; we ping ourselves
                    open_timeout=remaining,
                )
                break
            except InvalidStatus as exc:
                failure = exc
                if exc.response.status_code < 500:
                    break  # refused (403: signature or stage): a retry cannot help
            except Exception as exc:
                failure = exc
        if self.ws is None:
            reason = f"{type(failure).__name__}: {failure}" if failure else "no time left"
            raise RelayError(
                f"relay: could not connect to the stage's WebSocket API within "
                f"{time.monotonic() - started:.1f} s ({reason}); is the debug stack of stage "
                f"{self.stage!r} deployed? Run `relay start --stage {self.stage}`."
            )
        self.opened_at = self.last_traffic = time.monotonic()
        self.connection_id = None

    def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                self.ws.close()
        self.ws = None
        self.connection_id = None

    def send(self, message: messages.Message) -> None:
        parts = messages.frames(messages.encode(message))
        self.ws.send(parts[0] if len(parts) == 1 else parts)
        self.last_traffic = time.monotonic()

    def receive(self, timeout: float) -> messages.Message | None:
        """The next valid message, or None on timeout; garbage is logged and skipped."""
        raw = self.ws.recv(timeout=max(timeout, 0.0))
        self.last_traffic = time.monotonic()
        try:
            message = messages.decode(raw)
            if isinstance(message, messages.Overflow):
                body = self._boto("s3").get_object(Bucket=message.bucket, Key=message.key)
                message = messages.from_overflow(messages.decode(body["Body"].read()), message)
        except messages.ProtocolError as exc:
            print(f"relay: ignored an invalid message: {exc}")
            return None
        return message

    def hello(self, until: float) -> bool:
        """Learn our own connection id and the stage's client (cold path); False on timeout."""
        nonce = uuid.uuid4().hex
        self.send(messages.Hello(role="stub", stage=self.stage, nonce=nonce))
        while True:
            remaining = until - time.monotonic()
            if remaining <= 0:
                return False
            try:
                message = self.receive(remaining)
            except TimeoutError:
                continue
            except _closed_errors():
                self.close()
                self.open(until)
                self.send(messages.Hello(role="stub", stage=self.stage, nonce=nonce))
                continue
            if isinstance(message, messages.Welcome) and message.nonce == nonce:
                self.connection_id = message.connection_id
                self.client_id = message.client_id
                return True
            if message is not None:
                print(f"relay: dropped a {message.type} message (stale or unexpected) in hello")

    # -- one invocation ---------------------------------------------------------------------

    def forward(self, invoke: messages.Invoke) -> messages.Result | messages.Error:
        start = time.monotonic()
        deadline = start + (invoke.deadline_ms - _now_ms()) / 1000.0
        last_chance = deadline - DEADLINE_MARGIN_MS / 1000.0
        self.ensure(budget_s=deadline - start, until=_cold_until(last_chance))
        flight = messages.InFlight(log=print)
        flight.start(invoke.id)
        posted_to = self._deliver(invoke, last_chance)
        window = time.monotonic()
        redeliveries = 0
        next_ping = time.monotonic() + PING_EVERY
        while True:
            now = time.monotonic()
            acked = flight.acked(invoke.id)
            silence = ACK_SILENCE if acked else NO_CLIENT_AFTER
            until = min(window + silence, last_chance)
            if now >= until:
                if now < last_chance and redeliveries < 2:
                    # Silence: maybe the client restarted or reconnected and our post went to
                    # its old connection. Ask the gateway; a different client gets the same
                    # invocation id again (and runs it, once).
                    self.hello(now + NO_CLIENT_AFTER)
                    if self.client_id is not None and self.client_id != posted_to:
                        redeliveries += 1
                        posted_to = self._deliver(invoke, last_chance)
                        window = time.monotonic()
                        continue
                flight.abandon(invoke.id)  # a late answer is dropped, never applied
                if now >= last_chance:
                    raise RelayTimeout(
                        f"relay: no answer from the relay client of stage {self.stage!r} before "
                        "the function's deadline (was `relay start` stopped?)"
                    )
                if acked:
                    raise RelayClientLost(
                        f"relay: the relay client of stage {self.stage!r} stopped answering "
                        "while this invocation ran (it was stopped or lost its connection); "
                        f"run `relay start --stage {self.stage}` and invoke again"
                    )
                raise RelayClientNotConnected(_no_client_text(self.stage))
            try:
                message = self.receive(min(until, next_ping) - now)
            except TimeoutError:
                if time.monotonic() >= next_ping:
                    self.send(messages.Ping(nonce=invoke.id))
                    next_ping = time.monotonic() + PING_EVERY
                continue
            except _closed_errors():
                # Our connection died (deleted, or the gateway's limits): reconnect and ask
                # again under the same id; the client answers each id once, to our new id.
                self.close()
                self.ensure(budget_s=deadline - time.monotonic(), until=_cold_until(last_chance))
                posted_to = self._deliver(invoke, last_chance)
                window = time.monotonic()
                continue
            if message is None or not flight.accept(message):
                continue
            window = time.monotonic()  # the client is alive: every answer restarts the clock
            if isinstance(message, messages.Log):
                print(message.text, end="" if message.text.endswith("\n") else "\n")
            elif isinstance(message, (messages.Result, messages.Error)):
                return message

    def _deliver(self, invoke: messages.Invoke, last_chance: float) -> str:
        """Exactly one PostToConnection when warm; a 410 refreshes the client's id.

        Returns the client connection the invocation was posted to.
        """
        if self.connection_id is None or self.client_id is None:
            self._learn_ids(last_chance)
            # A client may be between two connections (reconnecting): give it the same
            # 3 s a 410 gets before saying there is none.
            self._wait_for_client(None, last_chance)
        invoke = _replace_reply_to(invoke, self.connection_id or "")
        out = messages.plan_outbound(
            invoke,
            bucket=os.environ.get("RELAY_BUCKET"),
            key=messages.overflow_key(self.stage, invoke.id, "invoke"),
        )
        if out.upload_key:
            self._boto("s3").put_object(
                Bucket=os.environ["RELAY_BUCKET"], Key=out.upload_key, Body=out.upload_body
            )
        api = self._connections_api()
        while True:
            gone = self.client_id or ""
            try:
                api.post(gone, out.data)
                return gone
            except signing.ConnectionGone:
                pass
            except signing.ConnectionsApiError as exc:
                raise RelayError(f"relay: could not reach the relay client: {exc}") from None
            # The client reconnected or stopped: ask again until a new one shows up.
            self._learn_ids(last_chance)
            self._wait_for_client(gone, last_chance)

    def _wait_for_client(self, gone: str | None, last_chance: float) -> None:
        """Poll hello until a client other than ``gone`` is connected, for up to 3 s.

        Only the pauses count towards the 3 s (a slow, cold connect handler is not
        "no client").
        """
        budget = NO_CLIENT_AFTER
        while self.client_id in (gone, None):
            if budget <= 0:
                self.client_id = None
                raise RelayClientNotConnected(_no_client_text(self.stage))
            time.sleep(HELLO_RETRY)  # polling the gateway: nothing to wait on
            budget -= HELLO_RETRY
            self._learn_ids(last_chance)

    def _learn_ids(self, last_chance: float) -> None:
        """hello/welcome through the connect handler, as long as the cold path may take."""
        started = time.monotonic()
        if not self.hello(_cold_until(last_chance)):
            raise RelayError(
                f"relay: the connect handler of stage {self.stage!r} did not answer within "
                f"{time.monotonic() - started:.1f} s; check its logs, or redeploy with "
                f"`relay start --stage {self.stage}`"
            )


def _cold_until(last_chance: float) -> float:
    """When the cold path must be done: within the function's time, at most 20 s from now."""
    return min(last_chance, time.monotonic() + COLD_PATH_LIMIT)


_link = _Link()


def handler(event: Any, context: Any) -> Any:
    """Lambda entry point of every stubbed function."""
    try:
        invoke = build_invoke(event, context)
        answer = _link.forward(invoke)
    except RelayError as exc:
        print(str(exc))
        if _is_http_event(event):
            status = 503 if isinstance(exc, RelayClientNotConnected) else 502
            return {
                "statusCode": status,
                "headers": {"content-type": "application/json"},
                "body": json.dumps({"message": str(exc)}),
            }
        raise
    if isinstance(answer, messages.Error):
        if answer.is_timeout:
            # The handler timed out locally: let Lambda itself time this invocation out, so
            # the caller sees Lambda's own words, request id and timestamp.
            time.sleep(max(0.0, context.get_remaining_time_in_millis() / 1000.0) + 1.0)
        raise _function_error(answer)
    return answer.payload  # bytes: the runtime returns them unchanged


def build_invoke(event: Any, context: Any) -> messages.Invoke:
    """The invoke message: the event, Lambda's context, environment and role credentials."""
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    credentials = (
        messages.Credentials(key, secret, os.environ.get("AWS_SESSION_TOKEN") or None)
        if key and secret
        else None
    )
    return messages.Invoke(
        id=uuid.uuid4().hex,
        reply_to=_link.connection_id or "-",
        stage=_env("RELAY_STAGE"),
        function_name=str(getattr(context, "function_name", "") or ""),
        request_id=str(getattr(context, "aws_request_id", "") or uuid.uuid4()),
        deadline_ms=_now_ms() + int(context.get_remaining_time_in_millis()),
        payload=json.dumps(event).encode("utf-8"),
        invoked_function_arn=str(getattr(context, "invoked_function_arn", "") or ""),
        function_version=str(getattr(context, "function_version", "") or "$LATEST"),
        memory_mb=int(getattr(context, "memory_limit_in_mb", None) or 128),
        log_group=str(getattr(context, "log_group_name", "") or ""),
        log_stream=str(getattr(context, "log_stream_name", "") or ""),
        region=os.environ.get("AWS_REGION", ""),
        handler=os.environ.get("RELAY_ORIGINAL_HANDLER", ""),
        function_path=os.environ.get("RELAY_FUNCTION_PATH", ""),
        bucket=os.environ.get("RELAY_BUCKET") or None,
        client_context=_client_context_json(getattr(context, "client_context", None)),
        cognito_identity=_cognito_json(getattr(context, "identity", None)),
        trace_id=os.environ.get("_X_AMZN_TRACE_ID") or None,
        environment={
            k: v for k, v in os.environ.items() if k not in RESERVED and not k.startswith("RELAY_")
        },
        credentials=credentials,
    )


def _function_error(error: messages.Error) -> Exception:
    """An exception the Lambda runtime reports with the original type, message and trace."""
    for module in ("awslambdaric.lambda_runtime_exception", "lambda_runtime_exception"):
        try:
            fault = __import__(module, fromlist=["FaultException"]).FaultException
        except (ImportError, AttributeError):
            continue
        # The runtime reports a FaultException as exactly (errorType, errorMessage, trace).
        return fault(error.error_type, error.error_message, error.stack_trace)
    cls = type(error.error_type or "Exception", (Exception,), {})
    return cls(error.error_message)


def _replace_reply_to(invoke: messages.Invoke, connection_id: str) -> messages.Invoke:
    from dataclasses import replace

    return replace(invoke, reply_to=connection_id)


def _no_client_text(stage: str) -> str:
    return (
        f"relay: no relay client is running for stage {stage!r}; "
        f"run `relay start --stage {stage}` and invoke again"
    )


def _is_http_event(event: Any) -> bool:
    """API Gateway (REST/HTTP), function URL and ALB callers want an HTTP-shaped answer."""
    if not isinstance(event, dict) or not isinstance(event.get("requestContext"), dict):
        return False
    context = event["requestContext"]
    return "httpMethod" in event or "http" in context or "elb" in context


def _client_context_json(value: Any) -> str | None:
    if value is None:
        return None
    client = getattr(value, "client", None)
    document = {
        "custom": getattr(value, "custom", None),
        "env": getattr(value, "env", None),
        "client": (
            {slot: getattr(client, slot, None) for slot in getattr(client, "__slots__", ())}
            if client is not None
            else None
        ),
    }
    return json.dumps(document)


def _cognito_json(value: Any) -> str | None:
    identity_id = getattr(value, "cognito_identity_id", None)
    pool_id = getattr(value, "cognito_identity_pool_id", None)
    if identity_id is None and pool_id is None:
        return None
    return json.dumps({"cognitoIdentityId": identity_id, "cognitoIdentityPoolId": pool_id})


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RelayError(
            f"relay: {name} is not set on this function; redeploy it with `relay start`"
        )
    return value


def _role_credentials() -> Any:
    """The function role's credentials, as Lambda puts them in the environment."""
    from botocore.credentials import Credentials

    return Credentials(
        os.environ.get("AWS_ACCESS_KEY_ID", ""),
        os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
        os.environ.get("AWS_SESSION_TOKEN") or None,
    )


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _is_open(ws: Any) -> bool:
    from websockets.protocol import State

    return bool(ws.protocol.state is State.OPEN)


def _closed_errors() -> tuple[type[BaseException], ...]:
    from websockets.exceptions import ConnectionClosed

    return (ConnectionClosed,)
