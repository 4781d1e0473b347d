"""Fuzz the link's message decoder and the emulator's HTTP and WebSocket endpoints with
hypothesis: nothing crashes, nothing hangs, and the emulator keeps serving.

    .venv/bin/python bench/fuzz_link.py [--cases 10000]

Per target, ``--cases`` generated inputs (the issue asks for at least 10,000 in a benchmark
run; ``tests/emulator/test_fuzz.py`` runs a few hundred in CI through the same functions):

- ``decode``: arbitrary bytes, text, JSON documents and mutated valid messages. Only a
  message or ``ProtocolError`` may come out.
- ``http``: raw requests to the ``@connections`` API, the Lambda API and a function URL
  (random methods, paths, headers, bodies, bad framing, non-HTTP bytes, half of them
  validly SigV4-signed so they get past authentication). Each must be answered with an HTTP
  status other than 500, or closed, within 5 s of our half-close.
- ``websocket``: raw handshakes to the WebSocket API, and random text/binary messages (up
  to past the 128 KB limit) on a signed connection. The gateway may refuse or close; it
  must answer in time and accept the next valid connection.

Every 100 cases, and at the end, a valid post to ``@connections``, a valid Invoke and a
valid handshake must still succeed.
"""

from __future__ import annotations

import argparse
import json
import socket
import string
import sys
import textwrap
import time
import warnings
from collections import Counter
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from relay.client import signing  # noqa: E402
from relay.emulator import Emulator, Route  # noqa: E402
from relay.link import http1, messages  # noqa: E402
from relay.runtime import FunctionConfig  # noqa: E402

REGION = "us-east-1"
EXCHANGE_DEADLINE = 5.0
HANDLERS = """
import json

def route(event, context):
    connection = event["requestContext"]["connectionId"]
    return {"statusCode": 200, "body": json.dumps({"body": event.get("body"), "id": connection})}

def echo(event, context):
    return {"statusCode": 200, "body": json.dumps(event)}
"""

# --- the decoder ------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)
_valid = [
    messages.Hello(role="stub", stage="s", nonce="n"),
    messages.Welcome(stage="s", connection_id="c", client_id=None, nonce="n"),
    messages.Invoke("i", "r", "s", "fn", "req", 1, b"{}", first_to="c0"),
    messages.Ack("i"),
    messages.Result("i", b"\xff\x00"),
    messages.Error("i", b'{"errorMessage": "m", "errorType": "T"}'),
    messages.Overflow("b", "k", 10),
]


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    """A valid message with one field replaced, removed or added."""
    body = json.loads(messages.encode(draw(st.sampled_from(_valid))))
    key = draw(st.sampled_from([*body, "extra"]))
    if draw(st.booleans()) and key in body:
        del body[key]
    else:
        body[key] = draw(_json)
    return json.dumps(body).encode()


_decoder_inputs = (
    st.binary(max_size=300)
    | st.text(max_size=300)
    | _json.map(json.dumps)
    | _mutated()
    | st.dictionaries(st.text(max_size=10), _json).map(lambda d: json.dumps({"v": 1, **d}))
)


def fuzz_decoder(cases: int) -> Counter[str]:
    seen: Counter[str] = Counter()

    @settings(max_examples=cases, deadline=None, database=None)
    @given(_decoder_inputs)
    def one(data: bytes | str) -> None:
        try:
            seen[messages.decode(data).type] += 1
        except messages.ProtocolError:
            seen["ProtocolError"] += 1

    one()
    return seen


# --- HTTP ----------------------------------------------------------------------------------


class Targets:
    """An emulator with a WebSocket API, a Lambda function with a URL, and one open
    connection to post to."""

    def __init__(self, workdir: Path) -> None:
        (workdir / "handlers.py").write_text(textwrap.dedent(HANDLERS))
        self.emu = Emulator(region=REGION, function_concurrency=4)
        self.emu.__enter__()
        for name, handler in (("route", "route"), ("echo", "echo")):
            self.emu.create_function(
                FunctionConfig(name=name, handler=f"handlers.{handler}", code_dir=workdir),
                url=name == "echo",
            )
        self.api = self.emu.create_websocket_api(
            "fuzz", routes={"$connect": "route", "$default": Route("route", return_response=True)}
        )
        self.url = next(f.function_url for f in self.emu.functions if f.name == "echo") or ""
        c = self.emu.credentials
        self.credentials = BotocoreCredentials(c.access_key, c.secret_key, c.session_token)
        self.ws: Any = None
        self.connection_id = ""

    def bases(self) -> dict[str, tuple[str, str]]:
        """name -> (base URL, SigV4 service)."""
        return {
            "connections": (self.api.connections_endpoint, "execute-api"),
            "lambda": (self.emu.lambda_endpoint, "lambda"),
            "function-url": (self.url.rstrip("/"), "lambda"),
            "websocket": (self.api.websocket_url.replace("ws://", "http://"), "execute-api"),
        }

    def open_socket(self) -> Any:
        from websockets.sync.client import connect

        # kept open across hypothesis examples, so not in a `with` block
        warnings.filterwarnings("ignore", "connect\\(\\) must be used", DeprecationWarning)
        headers = signing.handshake_headers(self.api.websocket_url, self.credentials, REGION)
        ws = connect(self.api.websocket_url, additional_headers=headers, open_timeout=30)
        return ws

    def check_serving(self) -> None:
        """A valid handshake, post and Invoke still work."""
        if self.ws is not None:
            self.ws.close()
        self.ws = self.open_socket()
        self.ws.send("who am i")
        self.connection_id = json.loads(self.ws.recv(timeout=30))["id"]
        api = signing.ConnectionsApi(self.api.connections_endpoint, self.credentials, REGION)
        api.post(self.connection_id, b'{"still": "serving"}')
        assert self.ws.recv(timeout=30) == '{"still": "serving"}'
        api.close()
        status, _ = raw_exchange(
            self.emu.lambda_endpoint,
            signed_request(
                self.credentials,
                "lambda",
                "POST",
                f"{self.emu.lambda_endpoint}/2015-03-31/functions/echo/invocations",
                {},
                b"{}",
            ),
        )
        assert status == 200, status

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
        self.emu.__exit__(None, None, None)


def signed_request(
    credentials: Any, service: str, method: str, url: str, headers: dict[str, str], body: bytes
) -> bytes:
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(credentials, service, REGION).add_auth(request)
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    signed = [(k, v) for k, v in request.headers.items() if k.lower() != "host"]
    return http1.encode_request(method, target or "/", signed, body, host=parts.netloc)


def raw_exchange(base: str, data: bytes) -> tuple[int | None, bytes]:
    """Send ``data``, half-close, read the answer: (status or None if closed silently, head).

    Raises TimeoutError when the server neither answers nor closes in time (a hang).
    """
    parts = urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=EXCHANGE_DEADLINE) as s:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            return None, b""  # the server closed first (it refused what it read)
        answer = b""
        deadline = time.monotonic() + EXCHANGE_DEADLINE
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            except TimeoutError:
                raise TimeoutError(
                    f"no answer within {EXCHANGE_DEADLINE} s to {data[:120]!r}"
                ) from None
            if not chunk:
                break
            answer += chunk
        else:
            raise TimeoutError(f"no close within {EXCHANGE_DEADLINE} s after {data[:120]!r}")
    if not answer:
        return None, b""
    head = answer.split(b"\r\n", 1)[0]
    fields = head.split(b" ")
    if len(fields) < 2 or not fields[0].startswith(b"HTTP/1.") or not fields[1].isdigit():
        raise AssertionError(f"not an HTTP answer: {answer[:200]!r} to {data[:200]!r}")
    return int(fields[1]), head


_token = st.text(alphabet=string.ascii_letters + string.digits + "-_.~%@$", max_size=30)
_path = st.lists(_token, max_size=5).map(lambda parts: "/" + "/".join(parts))
_header_name = st.sampled_from(
    [
        "Content-Type",
        "Content-Length",
        "Transfer-Encoding",
        "Connection",
        "Upgrade",
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Version",
        "X-Amz-Date",
        "Authorization",
        "X-Amz-Invocation-Type",
        "X-Amz-Log-Type",
        "X-Amz-Security-Token",
        "Expect",
    ]
) | _token.filter(bool)
_header_value = st.text(alphabet=string.printable.strip() + " ", max_size=60) | st.sampled_from(
    [
        "chunked",
        "-1",
        "999999",
        "0",
        "websocket",
        "Upgrade",
        "keep-alive",
        "close",
        "13",
        "100-continue",
        "Event",
        "DryRun",
        "Tail",
        "application/json",
    ]
)


@st.composite
def _http_case(draw: st.DrawFn, targets: Targets) -> tuple[str, bytes]:
    name, (base, service) = draw(st.sampled_from(sorted(targets.bases().items())))
    kind = draw(st.sampled_from(["signed", "signed", "raw", "garbage"]))
    if kind == "garbage":
        return name, draw(st.binary(max_size=400))
    method = draw(st.sampled_from(["GET", "POST", "DELETE", "PUT", "HEAD", "OPTIONS", "PATCH"]))
    known = {
        "connections": [
            f"{urlsplit(base).path}/@connections/{targets.connection_id}",
            f"{urlsplit(base).path}/@connections/unknown",
            f"{urlsplit(base).path}/@connections",
        ],
        "lambda": [
            "/2015-03-31/functions/echo/invocations",
            "/2015-03-31/functions/nope/invocations",
            "/2015-03-31/functions/echo",
            "/2015-03-31/functions/",
            "/2021-10-31/functions/echo/url",
        ],
        "function-url": ["/", "/a/b?x=1"],
        "websocket": [urlsplit(base).path],
    }[name]
    path = draw(st.sampled_from(known) | _path)
    query = draw(st.none() | st.dictionaries(_token, _token, max_size=3))
    url = base.split("/", 3)[0] + "//" + urlsplit(base).netloc + path
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    headers = draw(st.dictionaries(_header_name, _header_value, max_size=5))
    body = draw(
        st.binary(max_size=300)
        | _json.map(lambda v: json.dumps(v).encode())
        | st.sampled_from([b"{}", b'{"action": "x"}', b"x" * 140_000])
    )
    if kind == "signed":
        headers.pop("Content-Length", None)
        headers.pop("Transfer-Encoding", None)
        return name, signed_request(targets.credentials, service, method, url, headers, body)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {urlsplit(base).netloc}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if draw(st.booleans()):
        lines.append(f"Content-Length: {len(body)}")
    return name, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + body


def fuzz_http(targets: Targets, cases: int) -> Counter[str]:
    seen: Counter[str] = Counter()
    count = [0]

    @settings(
        max_examples=cases,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def one(data: st.DataObject) -> None:
        name, request = data.draw(_http_case(targets))
        base = targets.bases()[name][0]
        status, head = raw_exchange(base, request)
        assert status != 500, f"{name}: 500 for {request[:300]!r}: {head!r}"
        seen[f"{name} {status}"] += 1
        count[0] += 1
        if count[0] % 100 == 0:
            targets.check_serving()

    one()
    targets.check_serving()
    return seen


# --- WebSocket -----------------------------------------------------------------------------

_ws_message = (
    st.text(max_size=300)
    | st.binary(max_size=300)
    | _json.map(json.dumps)
    | st.dictionaries(st.just("action"), _token).map(json.dumps)
    | st.integers(100_000, 140_000).map(lambda n: "x" * n)
)


def fuzz_websocket(targets: Targets, cases: int) -> Counter[str]:
    from websockets.exceptions import ConnectionClosed

    seen: Counter[str] = Counter()
    state: dict[str, Any] = {"ws": None, "count": 0}

    @settings(
        max_examples=cases,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(_ws_message, min_size=1, max_size=4))
    def one(batch: list[str | bytes]) -> None:
        if state["ws"] is None:
            state["ws"] = targets.open_socket()
        ws = state["ws"]
        try:
            for message in batch:
                ws.send(message)
            ws.send("ping")  # every route answers: proof the gateway still reads us
            deadline = time.monotonic() + EXCHANGE_DEADLINE * 4
            while True:
                reply = ws.recv(timeout=max(0.01, deadline - time.monotonic()))
                if (
                    isinstance(reply, str)
                    and reply.endswith("}")
                    and (json.loads(reply).get("body") == "ping")
                ):
                    break
            seen["answered"] += 1
        except ConnectionClosed as exc:
            seen[f"closed {exc.rcvd.code if exc.rcvd else None}"] += 1
            state["ws"] = None
        state["count"] += 1
        if state["count"] % 100 == 0:
            targets.check_serving()

    one()
    targets.check_serving()
    return seen


def fuzz_all(cases: int, workdir: Path) -> dict[str, Counter[str]]:
    results = {"decode": fuzz_decoder(cases)}
    targets = Targets(workdir)
    try:
        targets.check_serving()
        results["http"] = fuzz_http(targets, cases)
        results["websocket"] = fuzz_websocket(targets, cases)
    finally:
        targets.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="inputs per target")
    args = parser.parse_args()
    started = time.monotonic()
    with TemporaryDirectory() as workdir:
        results = fuzz_all(args.cases, Path(workdir))
    print(
        f"fuzz_link: {args.cases} cases per target, {time.monotonic() - started:.0f} s, "
        "no crash, no hang, still serving"
    )
    for target, seen in results.items():
        top = ", ".join(f"{k}: {v}" for k, v in seen.most_common(8))
        print(f"  {target:9} {sum(seen.values()):6} cases  ({top})")


if __name__ == "__main__":
    main()
