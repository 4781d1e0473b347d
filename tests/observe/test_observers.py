"""The observer seam: one feed, isolated subscribers, the recorder only when asked."""

from __future__ import annotations

import asyncio
from pathlib import Path

from relay.observe.invocations import InvocationEvent, InvocationFeed
from relay.observe.observers import open_observers
from relay.record.store import EventStore


class _View:
    def __init__(self) -> None:
        self.events: list[InvocationEvent] = []

    def event(self, event: InvocationEvent) -> None:
        self.events.append(event)


def test_a_failing_subscriber_does_not_stop_the_others() -> None:
    seen: list[str] = []

    def broken(event: InvocationEvent) -> None:
        raise RuntimeError("boom")

    feed = InvocationFeed(broken, lambda e: seen.append(e.status))
    feed.publish(InvocationEvent("f", "r", "i", "ok"))
    assert seen == ["ok"]


def test_no_record_means_no_recorder_and_no_folder(tmp_path: Path) -> None:
    view = _View()
    observers = asyncio.run(open_observers(project=tmp_path, stage="s", view=view, record=False))
    event = InvocationEvent("f", "r", "i", "ok", 1.0, payload=b"{}", result=b"{}")
    observers.feed.publish(event)
    asyncio.run(observers.close())
    assert observers.recorder is None
    assert view.events == [event]
    assert not (tmp_path / ".relay").exists()


def test_record_writes_finished_events_only(tmp_path: Path) -> None:
    view = _View()
    observers = asyncio.run(open_observers(project=tmp_path, stage="s", view=view, record=True))
    observers.feed.publish(InvocationEvent("f", "r", "i", "running"))
    observers.feed.publish(InvocationEvent("f", "r", "i", "ok", 1.0, payload=b"{}", result=b"1"))
    observers.feed.publish(
        InvocationEvent("f", "r2", "j", "ok", 1.0, payload=b"{}", result=b"1", source="replay")
    )
    asyncio.run(observers.close())
    store = EventStore(tmp_path / ".relay" / "stages" / "s" / "events")
    (record,) = [record for _, record in store.records()]
    assert (record["request_id"], record["event"], record["result"]) == ("r", {}, 1)
