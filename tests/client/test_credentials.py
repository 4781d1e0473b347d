"""relay/client/credentials.py: resolved in a thread, reused for a while, refreshed in a
thread while the value in hand is still used."""

from __future__ import annotations

import asyncio
import threading

import pytest

from relay.client import credentials
from relay.client.credentials import CredentialCache


def test_values_are_resolved_off_the_loop_and_refreshed_in_a_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads: list[int] = []
    refreshed = threading.Event()
    now = [1000.0]
    monkeypatch.setattr(credentials.time, "monotonic", lambda: now[0])

    def resolve() -> str:
        threads.append(threading.get_ident())
        if len(threads) == 2:
            refreshed.set()
        return f"keys-{len(threads)}"

    async def scenario() -> list[str | None]:
        cache = CredentialCache(resolve, reuse_for=60.0)
        assert cache.current() is None  # nothing resolved yet: never resolves on the loop
        got: list[str | None] = list(await asyncio.gather(*(cache.get() for _ in range(5))))
        now[0] += 59.0
        got.append(cache.current())  # inside the window: no resolution
        now[0] += 1.0
        got.append(cache.current())  # stale: still used while a thread refreshes it
        assert await asyncio.to_thread(refreshed.wait, 5), "no refresh started"
        got.append(await cache.get())
        return got

    assert asyncio.run(scenario()) == ["keys-1"] * 7 + ["keys-2"]
    assert threading.get_ident() not in threads and len(threads) == 2


def test_a_failing_refresh_keeps_the_value_in_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    answers: list[object] = ["keys", RuntimeError("the SSO session has expired"), "new keys"]
    calls = [threading.Event() for _ in answers]
    now = [0.0]
    monkeypatch.setattr(credentials.time, "monotonic", lambda: now[0])

    def resolve() -> str:
        calls[3 - len(answers)].set()
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return str(answer)

    cache = CredentialCache(resolve, reuse_for=60.0)
    assert cache.prime() == "keys"
    now[0] = 61.0
    assert cache.current() == "keys"  # stale: a refresh starts, and fails
    assert calls[1].wait(5)
    # the failed refresh gives its turn back: a later use starts another (polled, 5 s deadline)
    for _ in range(500):
        assert cache.current() in ("keys", "new keys")
        if calls[2].wait(0.01):
            break
    assert calls[2].is_set(), "no second refresh after the failed one"
