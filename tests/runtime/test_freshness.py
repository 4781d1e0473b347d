"""relay/runtime/freshness.py and saves.py: has a file a generation loaded been saved since?

Every case runs with the kernel's save events (Linux inotify) and with stat-ing every file
(macOS, Windows, no inotify left): the answers must be the same.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from relay.runtime import freshness
from relay.runtime.freshness import LoadedFiles, signature
from relay.runtime.saves import SaveEvents

MODES = ["stat"] + (["inotify"] if sys.platform.startswith("linux") else [])


def _own_events() -> Iterator[SaveEvents]:
    """An instance of the test's own, not the process's (closed after the test)."""
    if "inotify" not in MODES:
        pytest.skip("no inotify here")
    opened = SaveEvents._open()
    assert opened is not None, "inotify_simple is a dependency on Linux"
    yield opened
    opened._inotify.close()


@pytest.fixture(params=MODES)
def events(request: pytest.FixtureRequest) -> Iterator[SaveEvents | None]:
    if request.param == "stat":
        yield None
    else:
        yield from _own_events()


@pytest.fixture
def inotify() -> Iterator[SaveEvents]:
    yield from _own_events()


@pytest.fixture
def code(tmp_path: Path) -> Path:
    folder = tmp_path / "orders"
    (folder / "lib").mkdir(parents=True)
    (folder / "app.py").write_text("def handler(event, context):\n    return 1\n")
    (folder / "lib" / "util.py").write_text("X = 1\n")
    (folder / "lib" / "other.py").write_text("Y = 1\n")
    return folder


def _loaded(events: SaveEvents | None, *paths: Path) -> LoadedFiles:
    """As a worker reports them: each file with the signature it had when read."""
    loaded = LoadedFiles(events)
    loaded.add([(str(p), signature(p.stat())) for p in paths])
    return loaded


def test_nothing_saved_nothing_changed(events: SaveEvents | None, code: Path) -> None:
    loaded = _loaded(events, code / "app.py", code / "lib" / "util.py")
    assert loaded.changed() == []
    (code / "app.py.swp").write_text("an editor's swap file")  # not a loaded file
    (code / "lib" / "other.py").write_text("Y = 2\n")  # in a watched folder, never loaded
    assert loaded.changed() == []
    assert len(loaded) == 2


@pytest.mark.parametrize("how", ["in place", "atomic rename", "deleted", "touched"])
def test_a_saved_file_is_seen_until_a_new_generation(
    events: SaveEvents | None, code: Path, how: str
) -> None:
    util = code / "lib" / "util.py"
    loaded = _loaded(events, code / "app.py", util)
    if how == "in place":
        util.write_text("X = 2\n")
    elif how == "atomic rename":
        (code / "lib" / ".util.py.tmp").write_text("X = 2\n")
        os.replace(code / "lib" / ".util.py.tmp", util)
    elif how == "deleted":
        util.unlink()
    else:
        os.utime(util, ns=(1, 1))
    assert loaded.changed() == [str(util)]
    assert loaded.changed() == [str(util)]  # until the pool renews the generation
    loaded.clear()
    assert loaded.changed() == []


def test_a_save_between_the_workers_read_and_the_report(
    events: SaveEvents | None, code: Path
) -> None:
    """The worker stats a file just before reading it and reports it later: a save in between
    has no event after the watch, yet it must count."""
    app = code / "app.py"
    read = signature(app.stat())
    app.write_text("def handler(event, context):\n    return 2\n")
    loaded = LoadedFiles(events)
    loaded.add([(str(app), read)])
    assert loaded.changed() == [str(app)]


def test_only_files_named_by_an_event_are_stat_ed(
    inotify: SaveEvents, code: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    many = [code / "lib" / f"m{i}.py" for i in range(50)]
    for path in many:
        path.write_text("Z = 1\n")
    loaded = _loaded(inotify, code / "app.py", *many)
    stats: list[str] = []
    real_stat = os.stat

    def counting_stat(path: str) -> os.stat_result:
        stats.append(path)
        return real_stat(path)

    monkeypatch.setattr(freshness.os, "stat", counting_stat)
    assert loaded.changed() == []
    assert stats == []  # no event: not one stat
    many[7].write_text("Z = 2\n")
    assert loaded.changed() == [str(many[7])]
    assert stats == [str(many[7])]


def test_a_removed_folder_counts_for_every_file_in_it(
    events: SaveEvents | None, code: Path
) -> None:
    loaded = _loaded(events, code / "app.py", code / "lib" / "util.py")
    shutil.rmtree(code / "lib")
    assert loaded.changed() == [str(code / "lib" / "util.py")]


@pytest.mark.parametrize("checked_between", [True, False])
def test_a_folder_made_anew_is_watched_anew(
    events: SaveEvents | None, code: Path, checked_between: bool
) -> None:
    """`git checkout` of another branch, or a build step, removes a folder and writes it
    again: the next generation's saves there must still be seen."""
    util = code / "lib" / "util.py"
    loaded = _loaded(events, code / "app.py", util)
    shutil.rmtree(code / "lib")
    if checked_between:
        assert loaded.changed() == [str(util)]
    (code / "lib").mkdir()
    util.write_text("X = 2\n")
    assert loaded.changed() == [str(util)]
    loaded.clear()  # the pool renews: a new generation loads the new file
    loaded.add([(str(util), signature(util.stat()))])
    assert loaded.changed() == []
    util.write_text("X = 3\n")
    assert loaded.changed() == [str(util)]
    if events is not None:
        assert loaded._events is not None  # back on the save events, not stat-ing for ever


def test_every_generation_sees_a_shared_instances_events(inotify: SaveEvents, code: Path) -> None:
    first = _loaded(inotify, code / "app.py")
    second = _loaded(inotify, code / "app.py", code / "lib" / "util.py")
    (code / "app.py").write_text("changed = True\n")
    assert first.changed() == [str(code / "app.py")]  # takes the queue for both
    assert second.changed() == [str(code / "app.py")]
    second.close()
    (code / "lib" / "util.py").write_text("X = 3\n")
    assert first.changed() == [str(code / "app.py")]
    assert inotify._subscribers == [first._events]


def test_an_unwatchable_folder_falls_back_to_stat_ing(
    inotify: SaveEvents, code: Path, tmp_path: Path
) -> None:
    loaded = LoadedFiles(inotify)
    gone = tmp_path / "gone" / "mod.py"  # its folder cannot be watched: it does not exist
    loaded.add([(str(gone), (1, 1, 1, 1))])
    assert loaded._events is None
    loaded.add([(str(code / "app.py"), signature((code / "app.py").stat()))])
    assert loaded.changed() == [str(gone)]
