"""The events folder: private files, the size cap (oldest first), finding by id."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from relay.record.store import EventStore, RecordNotFound


def _record(n: int, size: int = 100) -> dict:
    return {"id": f"{n:04d}abcd", "at": 1_000 + n, "event": {"pad": "x" * size}}


def test_files_are_private_and_the_folder_too(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events")
    entry = store.add(_record(1))
    assert stat.S_IMODE(entry.path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "events").stat().st_mode) == 0o700
    assert entry.path.name == "0000001001000000-0001abcd.json"


def test_the_oldest_recordings_go_first_past_the_cap(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events", max_bytes=1000)
    for n in range(10):
        store.add(_record(n, size=200))
    size = store.entries()[0].size  # each file: the same size
    keep = 1000 // size
    kept = [e.id for e in store.entries()]
    assert kept == [f"{n:04d}abcd" for n in range(10 - keep, 10)]
    assert sum(e.size for e in store.entries()) <= 1000
    # a new store (a new `relay start`) keeps applying the cap to what is there
    later = EventStore(tmp_path / "events", max_bytes=1000)
    later.add(_record(10, size=200))
    assert [e.id for e in later.entries()] == [f"{n:04d}abcd" for n in range(11 - keep, 11)]


def test_find_by_id_prefix_or_last(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events")
    store.add(_record(1))
    store.add(_record(2))
    assert store.find("0001abcd")["at"] == 1001
    assert store.find("0002")["at"] == 1002
    assert store.find("last")["at"] == 1002
    with pytest.raises(RecordNotFound, match="matches 2 recordings"):
        store.find("000")
    with pytest.raises(RecordNotFound, match="list them with `relay events`"):
        store.find("ffff")
