"""Observe mode's wrapper: runs in AWS around the real handler, which keeps serving.

``relay_observe.handler`` (this file, in the observe layer beside the stub's modules) calls
the function's real handler (``RELAY_ORIGINAL_HANDLER``) and returns or raises exactly what it
did. For a sampled share of invocations (``RELAY_OBSERVE_SAMPLE``, 0..1) it then hands a copy
of the event, Lambda's context and the cloud's answer to a background thread, which sends it
to the stage's relay client when one is connected. The invocation never waits for that
thread and nothing it does can fail the invocation: with no client there, the cost is
building the copy (a ``json.dumps`` of the event) and one queue put.

Lambda freezes an environment between invocations, so a copy made at the end of one is sent
while the next runs (or is lost with the environment): observe mode is for watching, not
for a complete record.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import queue
import random
import threading
import time
import traceback
from typing import Any

#: Copies waiting for the sender; past this many, new ones are dropped (never blocking).
QUEUE_SIZE = 64
#: With no client connected, ask again at most this often (each ask is a connect + hello).
NO_CLIENT_RETRY = 5.0
#: The sender's budget to connect and learn the client.
CONNECT_BUDGET = 5.0

_original: Any = None
_copies: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_SIZE)
_sender: threading.Thread | None = None
_sender_lock = threading.Lock()


def handler(event: Any, context: Any) -> Any:
    real = _original or _load_original()
    if not _sampled():
        return real(event, context)
    try:
        copy = _stub().build_invoke(event, context)  # while the context is live
    except Exception as exc:  # a copy that cannot be made is skipped, the call is not
        print(f"relay observe: skipped a copy ({type(exc).__name__}: {exc})")
        return real(event, context)
    try:
        result = real(event, context)
    except Exception as exc:
        _submit(copy, _error_document(exc, context), type(exc).__name__)
        raise
    try:
        answer = json.dumps(result).encode()
    except (TypeError, ValueError):
        answer = None  # Lambda will report this itself; nothing to compare
    if answer is not None:
        _submit(copy, answer, None)
    return result


def _load_original() -> Any:
    global _original
    name = os.environ["RELAY_ORIGINAL_HANDLER"]
    module_name, _, function = name.rpartition(".")
    module = importlib.import_module(module_name.replace("/", "."))
    _original = getattr(module, function)
    return _original


def _sampled() -> bool:
    try:
        share = float(os.environ.get("RELAY_OBSERVE_SAMPLE", "1"))
    except ValueError:
        share = 1.0
    return share >= 1.0 or random.random() < share


def _stub() -> Any:
    try:
        import stub  # the stub asset's module, in the same layer
    except ModuleNotFoundError:  # relay's own source tree (tests)
        from relay.stub_lambda import stub  # type: ignore[no-redef]
    return stub


def _error_document(exc: BaseException, context: Any) -> bytes:
    return json.dumps(
        {
            "errorMessage": str(exc),
            "errorType": type(exc).__name__,
            "requestId": str(getattr(context, "aws_request_id", "")),
            "stackTrace": traceback.format_tb(exc.__traceback__),
        }
    ).encode()


def _submit(copy: Any, answer: bytes, error: str | None) -> None:
    observed = dataclasses.replace(copy, cloud_result=answer, cloud_error=error)
    try:
        _copies.put_nowait(observed)
    except queue.Full:
        return  # the sender is behind (or no client): drop, never wait
    _ensure_sender()


def _ensure_sender() -> None:
    global _sender
    if _sender is not None and _sender.is_alive():
        return
    with _sender_lock:
        if _sender is None or not _sender.is_alive():
            _sender = threading.Thread(target=_send_forever, name="relay-observe", daemon=True)
            _sender.start()


def _send_forever() -> None:
    stub = _stub()
    link = stub._Link()
    asked_at = -NO_CLIENT_RETRY
    while True:
        observed = _copies.get()
        try:
            if link.client_id is None:
                if time.monotonic() - asked_at < NO_CLIENT_RETRY:
                    continue  # nobody was listening a moment ago: drop
                asked_at = time.monotonic()
                until = asked_at + CONNECT_BUDGET
                link.ensure(CONNECT_BUDGET, until)
                if not link.hello(until) or link.client_id is None:
                    link.client_id = None
                    continue
            message = dataclasses.replace(observed, reply_to=link.connection_id or "-")
            data = stub.messages.encode_bytes(message)
            if len(data) > stub.messages.INLINE_LIMIT:
                print("relay observe: skipped a copy too large to send inline")
                continue
            try:
                link._connections_api().post(link.client_id, data)
            except Exception:
                link.client_id = None  # gone (410) or unreachable: ask again later
        except Exception as exc:
            print(f"relay observe: could not send a copy ({type(exc).__name__}: {exc})")
            link.close()
            link.client_id = None
