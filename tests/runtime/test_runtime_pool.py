"""Execution environments: concurrency up to the limit then queueing, config changes, debug mode."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from pathlib import Path

import pytest
from rt_helpers import fn, until

from relay.runtime import LocalRuntime

pytestmark = pytest.mark.anyio


def _max_overlap(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


async def test_concurrency_up_to_the_limit_then_queue(tmp_path: Path) -> None:
    async with LocalRuntime(watch=False, max_workers=2, spares=2, pycache_dir=tmp_path) as rt:
        rt.configure(fn("par", "app.overlap", code="errors"))
        results = await asyncio.gather(*(rt.invoke("par", b'{"seconds": 0.3}') for _ in range(5)))
        bodies = [json.loads(r.payload) for r in results]
    assert all(r.function_error is None for r in results)
    pids = {b["pid"] for b in bodies}
    assert len(pids) == 2  # two environments, each reused
    assert _max_overlap([(b["start"], b["end"]) for b in bodies]) == 2
    # one invocation at a time per environment
    for pid in pids:
        mine = sorted((b["start"], b["end"]) for b in bodies if b["pid"] == pid)
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(mine))


async def test_changed_config_retires_old_workers(runtime: LocalRuntime) -> None:
    runtime.configure(fn("cfg", "app.overlap", code="errors", environment={"V": "1"}))
    first = json.loads((await runtime.invoke("cfg", b'{"seconds": 0}')).payload)
    (old,) = runtime.workers("cfg")
    # the same config again changes nothing
    runtime.configure(fn("cfg", "app.overlap", code="errors", environment={"V": "1"}))
    assert runtime.workers("cfg") == [old]
    runtime.configure(fn("cfg", "app.overlap", code="errors", environment={"V": "2"}))
    second = json.loads((await runtime.invoke("cfg", b'{"seconds": 0}')).payload)
    assert (first["v"], second["v"]) == ("1", "2")
    assert second["pid"] != first["pid"]
    assert await asyncio.wait_for(old.exited, 10) == -9


async def test_busy_worker_finishes_then_retires(runtime: LocalRuntime) -> None:
    runtime.configure(fn("busy", "app.overlap", code="errors", environment={"V": "old"}))
    await runtime.invoke("busy", b'{"seconds": 0}')
    (old,) = runtime.workers("busy")
    in_flight = asyncio.ensure_future(runtime.invoke("busy", b'{"seconds": 0.5}'))
    await until(lambda: old.state.value == "busy", "the old worker taking the invocation")
    runtime.configure(fn("busy", "app.overlap", code="errors", environment={"V": "new"}))
    fresh = json.loads((await runtime.invoke("busy", b'{"seconds": 0}')).payload)
    assert fresh["v"] == "new"
    assert not in_flight.done()  # the new config did not wait for, or cut, the old invocation
    finished = json.loads((await in_flight).payload)
    assert finished["v"] == "old"
    assert await asyncio.wait_for(old.exited, 10) == -9  # retired once it was done


async def test_debug_mode_never_times_out_locally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAY_DEBUG", "")  # no debugger attach state published
    async with LocalRuntime(watch=False, debug=object(), pycache_dir=tmp_path) as rt:
        rt.configure(fn("dbg", "app.sleeps", code="errors", timeout=0.2))
        result = await rt.invoke("dbg", b'{"seconds": 0.6}')
    assert result.function_error is None
    assert result.payload == b'"woke up"'
    assert result.duration_ms >= 600


async def test_closing_ends_every_process(tmp_path: Path) -> None:
    rt = LocalRuntime(watch=False, spares=2, pycache_dir=tmp_path)
    await rt.start()
    rt.configure(fn("close", "app.quick", code="errors"))
    await rt.invoke("close", b"{}")
    workers = rt.workers("close") + list(rt._spares)
    pids = [w.pid for w in workers]
    assert pids
    await rt.close()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


async def test_a_runtime_that_cannot_start_is_an_exit_error_not_a_respawn_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from relay.runtime import process

    broken = tmp_path / "entry.py"
    broken.write_text("import sys\nprint('cannot import awslambdaric', flush=True)\nsys.exit(3)\n")
    monkeypatch.setattr(process, "ENTRY", str(broken))
    async with LocalRuntime(watch=False, spares=2, pycache_dir=tmp_path) as rt:
        rt.configure(fn("broken", "app.quick", code="errors"))
        result = await rt.invoke("broken", b"{}", request_id="r-b")
        assert json.loads(result.payload) == {
            "errorType": "Runtime.ExitError",
            "errorMessage": "RequestId: r-b Error: Runtime exited with error: exit status 3",
        }
        assert "cannot import awslambdaric" in result.logs.splitlines()
        # the spares started with the runtime have ended
        await until(lambda: not rt._spawning, "the failed spares ending")
        await asyncio.gather(*(w.exited for w in rt._spares))
        assert rt._spares == []
        assert rt._spawning == 0  # and none are being started again
