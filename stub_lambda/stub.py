"""The stub: runs in AWS in place of each function and forwards invocations to ``relay start``.

One WebSocket per execution environment, opened with SigV4 (the function's own role) and
reused while warm. Warm path per invocation: one PostToConnection to the stage's relay client,
then the answer arrives on this socket (the client posts it to our connection). No DynamoDB,
no extra Lambda. The cold path (``hello`` on ``$default``) learns our own connection id and the
client's. Lambda's environment and ``RELAY_*`` variables (see docs/architecture.md) configure it.

The link's decisions (when to connect, hello, post, re-post, give up) are the sans-I/O
``stub_session``'s; this module is its synchronous driver. It must import and run on every
Python runtime Lambda supports (3.9+), with stdlib, botocore and the bundled websockets only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

try:  # in the stub asset, these are sibling modules
    import messages
    import signing
    import stub_session
except ModuleNotFoundError:  # in relay's own source tree
    from relay.client import signing  # type: ignore[no-redef]
    from relay.link import messages, stub_session  # type: ignore[no-redef]

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


class _TimesOut(RelayError):
    """The handler still runs on the laptop (acked) when the function's time is up."""


class _Link:
    """This execution environment's WebSocket and ``@connections`` poster: the I/O of the
    stub session, kept while warm."""

    def __init__(self) -> None:
        self.ws: Any = None
        self.session: stub_session.StubSession | None = None
        self._clients: dict[str, Any] = {}
        # observe mode's own link (stub_lambda/observe.py) learns these with hello()
        self.connection_id: str | None = None
        self.client_id: str | None = None

    @property
    def stage(self) -> str:
        return _env("RELAY_STAGE")

    def forward(self, invoke: messages.Invoke, deadline: float) -> messages.Result | messages.Error:
        """Carry out the session's actions until it finishes or fails (raised)."""
        if self.session is None:
            self.session = stub_session.StubSession(self.stage)
        session = self.session
        now = time.monotonic()
        if self.ws is not None and not _is_open(self.ws):
            self._drop()
            session.closed(now)
        pending = list(session.start(invoke, now, deadline))
        while True:
            while pending:
                action = pending.pop(0)
                if isinstance(action, stub_session.Finish):
                    return action.answer
                if isinstance(action, stub_session.Fail):
                    raise _FAILURES[action.kind](action.text)
                pending += self._do(action)
            pending = self._wait()

    # -- actions ----------------------------------------------------------------------------

    def _do(self, action: stub_session.Action) -> list[stub_session.Action]:
        session = self.session
        assert session is not None
        if isinstance(action, stub_session.Connect):
            return self._connect(action.until)
        if isinstance(action, stub_session.Close):
            self._drop()
        elif isinstance(action, stub_session.Send):
            parts = messages.frames(messages.encode(action.message))
            try:
                self.ws.send(parts[0] if len(parts) == 1 else parts)
            except _closed_errors():
                self._drop()
                return session.closed(time.monotonic())
        elif isinstance(action, stub_session.Post):
            return self._post(action)
        elif isinstance(action, stub_session.Echo):
            print(action.text)
        return []

    def _open(self, until: float) -> None:
        """A new signed WebSocket by ``until``; raises what websockets raises."""
        from websockets.sync.client import connect

        self._drop()
        url = signing.with_query(_env("RELAY_WS_URL"), {"role": "stub", "stage": self.stage})
        headers = signing.handshake_headers(url, _role_credentials(), _api_region())
        self.ws = connect(
            url,
            additional_headers=headers,
            max_size=MAX_MESSAGE,
            compression=None,
            ping_interval=None,  # a frozen environment cannot answer; the session pings
            open_timeout=max(0.01, until - time.monotonic()),
        )

    def _connect(self, until: float) -> list[stub_session.Action]:
        from websockets.exceptions import InvalidStatus

        session = self.session
        assert session is not None
        try:
            self._open(until)
        except InvalidStatus as exc:
            status = exc.response.status_code
            return session.connect_failed(
                time.monotonic(), f"{type(exc).__name__}: {exc}", refused=status < 500
            )
        except Exception as exc:
            return session.connect_failed(time.monotonic(), f"{type(exc).__name__}: {exc}")
        return session.connect_succeeded(time.monotonic())

    def _post(self, action: stub_session.Post) -> list[stub_session.Action]:
        """One PostToConnection (the warm path's only AWS call), S3 first when oversized."""
        session = self.session
        assert session is not None
        try:
            out = messages.plan_outbound(
                action.invoke,
                bucket=os.environ.get("RELAY_BUCKET"),
                key=messages.overflow_key(self.stage, action.invoke.id, "invoke"),
            )
            if out.upload_key:
                self._boto("s3").put_object(
                    Bucket=os.environ["RELAY_BUCKET"], Key=out.upload_key, Body=out.upload_body
                )
        except Exception as exc:  # too large without a bucket, or S3 refused
            return session.post_failed(time.monotonic(), str(exc), retryable=False)
        try:
            self._connections_api().post(action.to, out.data)
        except signing.ConnectionGone:
            return session.post_gone(time.monotonic())
        except signing.ConnectionsApiError as exc:
            retryable = exc.status is None or exc.status == 429 or exc.status >= 500
            return session.post_failed(time.monotonic(), str(exc), retryable)
        return session.posted(time.monotonic())

    def _wait(self) -> list[stub_session.Action]:
        """The next message, the socket closing, or the session's timer."""
        session = self.session
        assert session is not None
        wake = session.wake
        assert wake is not None, "the stub session waits on nothing"
        if self.ws is None:  # (a pause without a socket: a post retry after a close)
            time.sleep(max(0.0, wake - time.monotonic()))
            return session.timer(time.monotonic())
        try:
            raw = self.ws.recv(timeout=max(0.0, wake - time.monotonic()))
        except TimeoutError:
            return session.timer(time.monotonic())
        except _closed_errors():
            self._drop()
            return session.closed(time.monotonic())
        try:
            message = messages.decode(raw)
            if isinstance(message, messages.Overflow):
                body = self._boto("s3").get_object(Bucket=message.bucket, Key=message.key)
                message = messages.from_overflow(messages.decode(body["Body"].read()), message)
        except messages.ProtocolError as exc:
            print(f"relay: ignored an invalid message: {exc}")
            return []
        return session.received(message, time.monotonic())

    # -- observe mode: only learn the stage's client (stub_lambda/observe.py) ----------------

    def ensure(self, budget_s: float, until: float) -> None:  # noqa: ARG002
        """An open socket (opened by ``until``), for observe mode's copies."""
        if self.ws is None or not _is_open(self.ws):
            self.connection_id = None
            self._open(until)

    def hello(self, until: float) -> bool:
        """Learn our connection id and the stage's client; False when no welcome came."""
        nonce = uuid.uuid4().hex
        self.ws.send(messages.encode(messages.Hello(role="stub", stage=self.stage, nonce=nonce)))
        while (remaining := until - time.monotonic()) > 0:
            try:
                message = messages.decode(self.ws.recv(timeout=remaining))
            except TimeoutError:
                break
            except messages.ProtocolError:
                continue
            if isinstance(message, messages.Welcome) and message.nonce == nonce:
                self.connection_id, self.client_id = message.connection_id, message.client_id
                return True
        return False

    def close(self) -> None:
        self._drop()
        self.connection_id = None

    # -- clients ----------------------------------------------------------------------------

    def _drop(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                self.ws.close()
        self.ws = None

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
                _env("RELAY_CONNECTIONS_ENDPOINT"), _role_credentials, _api_region()
            )
            self._clients["@connections"] = api
        return api


_FAILURES: dict[str, type[RelayError]] = {
    stub_session.NOT_CONNECTED: RelayClientNotConnected,
    stub_session.LOST: RelayClientLost,
    stub_session.TIMEOUT: RelayTimeout,
    stub_session.ERROR: RelayError,
    stub_session.DEADLINE: _TimesOut,
}

_link = _Link()


def handler(event: Any, context: Any) -> Any:
    """Lambda entry point of every stubbed function."""
    try:
        invoke = build_invoke(event, context)
        deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000.0
        answer = _link.forward(invoke, deadline)
    except _TimesOut:
        # Lambda's own timeout, as if the function had run here: its words, request id, time
        time.sleep(max(0.0, context.get_remaining_time_in_millis() / 1000.0) + 1.0)
        raise
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
    stage = _env("RELAY_STAGE")  # first: the clearest error when relay's settings are missing
    frozen = _role_credentials()
    credentials = (
        messages.Credentials(frozen.access_key, frozen.secret_key, frozen.token or None)
        if frozen.access_key and frozen.secret_key
        else None
    )
    return messages.Invoke(
        id=uuid.uuid4().hex,
        reply_to="-",  # the session sets its connection id
        stage=stage,
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
    """The function role's credentials through botocore's chain (cached, refreshed by it):
    the environment on most runtimes, the container credentials endpoint under SnapStart."""
    global _credentials
    if _credentials is None:
        import botocore.session

        _credentials = botocore.session.get_session().get_credentials()
        if _credentials is None:
            raise RelayError(
                "relay: the function has no AWS credentials (neither in its environment nor "
                "from the container credentials endpoint); check its execution role"
            )
    return _credentials.get_frozen_credentials()


_credentials: Any = None


def _api_region() -> str:
    """The region of the stage's WebSocket API, which signs every call to it: RELAY_REGION,
    else the one in its endpoint's host name, else the function's own."""
    region = os.environ.get("RELAY_REGION")
    if region:
        return region
    host = urlsplit(os.environ.get("RELAY_CONNECTIONS_ENDPOINT", "")).hostname or ""
    match = re.match(r"^[^.]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$", host)
    if match:
        return match.group(1)
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _is_open(ws: Any) -> bool:
    from websockets.protocol import State

    return bool(ws.protocol.state is State.OPEN)


def _closed_errors() -> tuple[type[BaseException], ...]:
    from websockets.exceptions import ConnectionClosed

    return (ConnectionClosed,)
