"""The events folder: private segment files, the size cap (oldest whole segments first),
finding by id, the one-file-per-recording layout of earlier relays, and never half a record."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from relay.record.store import EventStore, RecordNotFound

ROOT = Path(__file__).resolve().parents[2]


def _record(n: int, size: int = 100) -> dict:
    return {"id": f"{n:04d}abcd", "at": 1_000 + n, "event": {"pad": "x" * size}}


def _ids(store: EventStore) -> list[str]:
    return [entry.id for entry in store.entries()]


def test_segments_are_private_and_the_folder_too(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events")
    first = store.add(_record(1))
    second = store.add(_record(2))
    store.close()
    assert first.path == second.path  # appended to one segment, not a file each
    assert first.path.name.endswith(".jsonl") and first.path.name[:-6].isdigit()
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "events").stat().st_mode) == 0o700
    lines = first.path.read_bytes().split(b"\n")
    assert lines[2:] == [b""] and [json.loads(line)["id"] for line in lines[:2]] == [
        "0001abcd",
        "0002abcd",
    ]
    assert (first.offset, first.size, second.offset) == (0, len(lines[0]) + 1, len(lines[0]) + 1)
    assert store.load(second) == {"id": "0002abcd", "at": 1002, "event": {"pad": "x" * 100}}


def test_the_cap_drops_the_oldest_whole_segments(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events", max_bytes=10_000, segment_bytes=1_000)
    for n in range(60):
        store.add(_record(n, size=200))
    size = store.entries()[0].size  # each record: the same size
    per_segment = -(-1_000 // size)  # a segment is closed once it holds 1,000 bytes
    segments = sorted((tmp_path / "events").iterdir())
    on_disk = sum(path.stat().st_size for path in segments)
    assert on_disk == sum(e.size for e in store.entries()) <= 10_000
    assert on_disk > 10_000 - per_segment * size  # no more than one segment too many dropped
    kept = _ids(store)
    assert (60 - len(kept)) % per_segment == 0  # whole segments went
    assert kept == [f"{n:04d}abcd" for n in range(60 - len(kept), 60)]
    assert [len(store_lines(p)) for p in segments[:-1]] == [per_segment] * (len(segments) - 1)
    # a new store (a new `relay start`) starts its own segment and keeps applying the cap
    later = EventStore(tmp_path / "events", max_bytes=10_000, segment_bytes=1_000)
    later.add(_record(60, size=200))
    assert later.entries()[-1].path not in segments
    assert _ids(later)[-1] == "0060abcd" and _ids(later) == sorted(_ids(later))
    assert sum(e.size for e in later.entries()) <= 10_000


def store_lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


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


def test_recordings_of_earlier_relays_are_read_and_capped(tmp_path: Path) -> None:
    """One file per recording (13-digit ms names, then 16-digit µs names) beside segments."""
    folder = tmp_path / "events"
    folder.mkdir()
    for name, record in (
        ("1700000000001-0aaaaaaa.json", {"id": "0aaaaaaa", "at": 1_700_000_000.001}),
        ("1700000000002000-0bbbbbbb.json", {"id": "0bbbbbbb", "at": 1_700_000_000.002}),
    ):
        (folder / name).write_text(json.dumps(record))
    store = EventStore(folder)
    store.add({"id": "0ccccccc", "at": 1_700_000_001.0})
    assert _ids(store) == ["0aaaaaaa", "0bbbbbbb", "0ccccccc"]
    assert [entry.at_ms for entry in store.entries()] == [
        1_700_000_000_001,
        1_700_000_000_002,
        1_700_000_001_000,
    ]
    assert [record["id"] for _, record in store.records()] == _ids(store)
    assert store.find("0bbb")["at"] == 1_700_000_000.002
    # the cap counts and drops them like segments, oldest first
    small = EventStore(folder, max_bytes=store.entries()[-1].size + 1)
    small.add({"id": "0ddddddd", "at": 1_700_000_002.0})
    assert _ids(small) == ["0ddddddd"]
    assert sorted(p.suffix for p in folder.iterdir()) == [".jsonl"]


def test_a_line_being_written_is_never_read_half(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events")
    entry = store.add(_record(1))
    store.close()
    whole = json.dumps({"id": "0002abcd", "at": 1002, "event": {"k": "v"}}).encode() + b"\n"
    with entry.path.open("ab") as segment:
        segment.write(whole[:25])  # as a reader may find a batch mid-write
        segment.flush()
        assert _ids(store) == ["0001abcd"]
        assert [record["id"] for _, record in store.records()] == ["0001abcd"]
        segment.write(whole[25:])
    assert _ids(store) == ["0001abcd", "0002abcd"]
    assert store.find("0002abcd")["event"] == {"k": "v"}


_CRASH = textwrap.dedent(
    """
    import os, signal
    from pathlib import Path
    from relay.record.store import EventStore

    store = EventStore(Path({folder!r}))
    store.add_many([{{"id": f"{{n:08x}}", "at": 1000 + n}} for n in range(50)])
    segment = store.entries()[-1].path
    with open(segment, "ab") as f:  # the next batch cut short by the crash
        f.write(b'{{"id": "deadbeef", "at": 2000, "ev')
    os.kill(os.getpid(), signal.SIGKILL)  # no close, no atexit
    """
)


def test_a_crash_keeps_every_written_batch(tmp_path: Path) -> None:
    folder = tmp_path / "events"
    crashed = subprocess.run(
        [sys.executable, "-c", _CRASH.format(folder=str(folder))],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    assert crashed.returncode == -9, crashed.stderr
    store = EventStore(folder)
    assert _ids(store) == [f"{n:08x}" for n in range(50)]  # the torn line is not one
    # the next relay appends to a new segment, so the torn tail stays a tail
    store.add({"id": "0000ffff", "at": 3000})
    assert _ids(store) == [f"{n:08x}" for n in range(50)] + ["0000ffff"]
    assert len(list(folder.iterdir())) == 2
    assert store.find("last")["at"] == 3000


def test_a_folder_removed_while_a_segment_is_open_is_made_again(tmp_path: Path) -> None:
    folder = tmp_path / "events"
    store = EventStore(folder)
    store.add(_record(1))
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    old = os.umask(0o022)
    try:
        entry = store.add(_record(2))  # not into the open, deleted segment
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(entry.path.stat().st_mode) == 0o600
    assert _ids(EventStore(folder)) == ["0002abcd"]
