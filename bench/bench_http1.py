"""relay's HTTP/1.1 codec against h11, per request/response pair, in the same run.

    .venv/bin/python bench/bench_http1.py [--n 20000]

A server's share of one Runtime API exchange (awslambdaric posting a result): parse the
request, encode the answer. h11 is measured when it is importable (``pip install h11``, or
``PYTHONPATH`` a folder that has it); relay does not depend on it.
"""

from __future__ import annotations

import argparse
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from relay.link import http1

BODY = b'{"statusCode": 200, "body": "hello"}'
REQUEST = (
    b"POST /2018-06-01/runtime/invocation/8f1d6e1c-5d4b-4c8e-9a51-2f0f4b3d2a10/response "
    b"HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nUser-Agent: aws-lambda-python/3.11 awslambdaric\r\n"
    b"Accept: */*\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
    % (len(BODY), BODY)
)
ANSWER = b'{"status":"OK"}'


def codec() -> Callable[[], bytes]:
    parser = http1.RequestParser()

    def exchange() -> bytes:
        parser.feed(REQUEST)
        request = parser.next()
        assert request is not None and request.body == BODY
        return http1.encode_response(202, ANSWER, [("Content-Type", "application/json")])

    return exchange


def h11_exchange() -> Callable[[], bytes] | None:
    try:
        import h11
    except ImportError:
        return None

    def exchange() -> bytes:
        conn = h11.Connection(h11.SERVER)
        conn.receive_data(REQUEST)
        head = conn.next_event()
        data = conn.next_event()
        end = conn.next_event()
        assert isinstance(head, h11.Request) and isinstance(end, h11.EndOfMessage)
        assert isinstance(data, h11.Data) and data.data == BODY
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(ANSWER)))]
        out = conn.send(h11.Response(status_code=202, headers=headers)) or b""
        out += conn.send(h11.Data(data=ANSWER)) or b""
        return out + (conn.send(h11.EndOfMessage()) or b"")

    return exchange


def per_call_us(call: Callable[[], bytes], n: int) -> float:
    return min(timeit.repeat(call, number=n, repeat=5)) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()
    ours = per_call_us(codec(), args.n)
    print(f"relay.link.http1   {ours:7.2f} µs per request parsed + answer encoded")
    other = h11_exchange()
    if other is None:
        print("h11                not installed: skipped")
        return
    theirs = per_call_us(other, args.n)
    print(f"h11 (same work)    {theirs:7.2f} µs  ({theirs / ours:.1f}x relay's codec)")


if __name__ == "__main__":
    main()
