"""CPU that recording costs relay's process per invocation (issue 13; `relay start` records by
default, so this is on every live invocation's path).

Feeds N finished invocations (a 1 KB event and result, like the demo's) to the recorder the
way the invocation feed does, and reports the process CPU per invocation, recorder included
(its writer thread runs in the same process), against the same loop with no subscriber.
Rounds are interleaved so that both sides see the same machine load.

    .venv/bin/python bench/bench_record.py [--n 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from relay.observe.invocations import InvocationContext, InvocationEvent
from relay.record.recorder import Recorder
from relay.record.store import EventStore


def _event(i: int) -> InvocationEvent:
    body = json.dumps({"name": "you", "items": list(range(150)), "n": i}).encode()
    return InvocationEvent(
        function="Greeting",
        request_id=f"req-{i}",
        invocation_id=f"inv-{i}",
        status="ok",
        duration_ms=1.5,
        payload=body,
        result=body,
        logs="START RequestId: x\nEND RequestId: x\nREPORT RequestId: x\n",
        context=InvocationContext(function_name="Greeting", handler="app.handler"),
        cold=False,
        source="direct",
    )


def _cpu_per_event(events: list[InvocationEvent], record: bool, folder: Path) -> float:
    start = time.process_time()
    if record:
        recorder = Recorder(EventStore(folder, max_bytes=1 << 40), "bench", [])
        for event in events:
            recorder(event)
        recorder.close()
    else:
        for _event in events:
            pass
    return (time.process_time() - start) / len(events) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    events = [_event(i) for i in range(args.n)]
    base: list[float] = []
    rec: list[float] = []
    # Under the project's .relay/, where relay writes them (this machine's /tmp is one large
    # shared folder in which creating a file costs ~40x more than in the work tree).
    Path(".relay").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=".relay") as tmp:
        for r in range(args.rounds):
            base.append(_cpu_per_event(events, False, Path(tmp) / f"b{r}"))
            rec.append(_cpu_per_event(events, True, Path(tmp) / f"r{r}"))
    b, m = statistics.median(base), statistics.median(rec)
    print(f"{args.n} invocations x {args.rounds} rounds (medians, process CPU incl. writer thread)")
    print(f"  no recorder: {b:8.1f} us/invocation")
    print(f"  recorder:    {m:8.1f} us/invocation  (+{m - b:.1f} us)")


if __name__ == "__main__":
    main()
