"""Hot reload: a save retires the function's environments and the next invocation runs new code."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rt_helpers import fn, until

from relay.runtime import LocalRuntime, reload
from relay.runtime.saves import SaveEvents

pytestmark = pytest.mark.anyio

HANDLER = (
    "import os\n\ndef handler(event, context):\n    return {{'v': {v!r}, 'pid': os.getpid()}}\n"
)


@pytest.fixture(autouse=True, params=["inotify", "stat"])
def save_check(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each case with the kernel's save events (Linux) and with stat-ing every loaded file
    (elsewhere; relay/runtime/saves.py)."""
    if request.param == "stat":
        monkeypatch.setattr(SaveEvents, "shared", classmethod(lambda cls: None))
    elif SaveEvents.shared() is None:
        pytest.skip("no inotify here")
    return str(request.param)


def _write(path: Path, version: str) -> None:
    path.write_text(HANDLER.format(v=version))


@pytest.fixture
async def watching(tmp_path: Path) -> AsyncIterator[LocalRuntime]:
    async with LocalRuntime(watch=True, pycache_dir=tmp_path / "pyc") as rt:
        yield rt


async def _version(rt: LocalRuntime, name: str) -> dict[str, object]:
    result = await rt.invoke(name, b"{}")
    assert result.function_error is None, result.payload
    return json.loads(result.payload)


async def test_save_runs_new_code_in_a_primed_environment(
    watching: LocalRuntime, tmp_path: Path
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    _write(code / "app.py", "one")
    watching.configure(fn("hot", "app.handler", code=code))
    first = await _version(watching, "hot")
    (old,) = watching.workers("hot")
    _write(code / "app.py", "two")
    await watching.wait_reload("hot", 0)
    # the old idle environment retires at once; a new one is started ahead of the call
    assert await old.exited == -9
    assert [w.state.value for w in watching.workers("hot") if w.alive] in (["init"], ["idle"])
    second = await _version(watching, "hot")
    assert (first["v"], second["v"]) == ("one", "two")
    assert second["pid"] != first["pid"]


async def test_same_size_edit_in_the_same_second_never_runs_stale_bytecode(
    watching: LocalRuntime, tmp_path: Path
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    target = code / "app.py"
    _write(target, "AAAA")
    watching.configure(fn("pyc", "app.handler", code=code))
    assert (await _version(watching, "pyc"))["v"] == "AAAA"  # its bytecode is now cached
    for version in ("BBBB", "CCCC", "DDDD"):
        before = target.stat()
        reloads = watching.reloads["pyc"]
        _write(target, version)
        # the worst case: same size, and a timestamp that Python's pyc check cannot tell apart
        os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert target.stat().st_size == before.st_size
        await watching.wait_reload("pyc", reloads)
        assert (await _version(watching, "pyc"))["v"] == version


async def test_same_second_edit_between_runs_sharing_a_bytecode_cache(tmp_path: Path) -> None:
    """Two `relay run`s in a row with an edit between them, within one second."""
    code = tmp_path / "code"
    code.mkdir()
    target = code / "app.py"
    _write(target, "AAAA")
    for version in ("AAAA", "BBBB"):
        if version == "BBBB":
            before = target.stat()
            _write(target, version)
            second = before.st_mtime_ns // 1_000_000_000 * 1_000_000_000
            os.utime(target, ns=(before.st_atime_ns, second + (before.st_mtime_ns + 1000) % 10**9))
        async with LocalRuntime(watch=False, pycache_dir=tmp_path / "pyc") as rt:
            rt.configure(fn("run", "app.handler", code=code))
            assert (await _version(rt, "run"))["v"] == version


async def test_broken_save_gives_the_import_error_and_the_next_good_one_recovers(
    watching: LocalRuntime, tmp_path: Path
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    _write(code / "app.py", "good")
    watching.configure(fn("fix", "app.handler", code=code))
    assert (await _version(watching, "fix"))["v"] == "good"
    (code / "app.py").write_text("import not_installed_anywhere\n" + HANDLER.format(v="x"))
    await watching.wait_reload("fix", 0)
    broken = await watching.invoke("fix", b"{}")
    assert broken.function_error == "Unhandled"
    assert json.loads(broken.payload)["errorType"] == "Runtime.ImportModuleError"
    reloads = watching.reloads["fix"]
    _write(code / "app.py", "fixed")
    await watching.wait_reload("fix", reloads)
    assert (await _version(watching, "fix"))["v"] == "fixed"


async def test_only_the_changed_function_reloads(watching: LocalRuntime, tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        _write(tmp_path / name / "app.py", name)
        watching.configure(fn(name, "app.handler", code=tmp_path / name))
    pid_a = (await _version(watching, "a"))["pid"]
    pid_b = (await _version(watching, "b"))["pid"]
    _write(tmp_path / "a" / "app.py", "a2")
    await watching.wait_reload("a", 0)
    assert (await _version(watching, "a")) != {"v": "a2", "pid": pid_a}
    assert (await _version(watching, "a"))["v"] == "a2"
    assert watching.reloads["b"] == 0
    assert await _version(watching, "b") == {"v": "b", "pid": pid_b}


async def test_a_layer_change_reloads_the_function(watching: LocalRuntime, tmp_path: Path) -> None:
    code, layer = tmp_path / "code", tmp_path / "layer"
    (layer / "python").mkdir(parents=True)
    code.mkdir()
    (layer / "python" / "helper.py").write_text("WHO = 'one'\n")
    (code / "app.py").write_text("import helper\n\ndef handler(e, c):\n    return helper.WHO\n")
    watching.configure(fn("lay", "app.handler", code=code, layers=(layer,)))
    assert (await watching.invoke("lay", b"{}")).payload == b'"one"'
    (layer / "python" / "helper.py").write_text("WHO = 'two'\n")
    await watching.wait_reload("lay", 0)
    assert (await watching.invoke("lay", b"{}")).payload == b'"two"'


async def test_only_the_functions_own_modules_are_cached_privately(tmp_path: Path) -> None:
    """boto3 & co. keep their compiled caches: a private copy would cost seconds per start."""
    code = tmp_path / "code"
    (code / "pkg").mkdir(parents=True)
    (code / "pkg" / "__init__.py").write_text("")
    (code / "pkg" / "mod.py").write_text(
        "import email.mime.text\nimport urllib3\n\ndef fn(e, c):\n    return 'ok'\n"
    )
    pyc = tmp_path / "pyc"
    async with LocalRuntime(watch=False, pycache_dir=pyc) as rt:
        rt.configure(fn("own", "pkg/mod.fn", code=code))
        assert (await rt.invoke("own", b"{}")).payload == b'"ok"'
    cached = sorted(str(p.relative_to(pyc)) for p in pyc.rglob("*.pyc"))
    tag = sys.implementation.cache_tag
    assert cached == [
        f"{str(code).lstrip('/')}/pkg/__init__.{tag}.pyc",
        f"{str(code).lstrip('/')}/pkg/mod.{tag}.pyc",
    ]


# Saves the watcher has not reported yet: the dispatch check ------------------------------
# "check only" runs without a watcher, so a pass proves the check on its own; "watched" is
# how relay runs (watcher and check together, each reload done once).
@pytest.fixture(params=["check only", "watched"])
async def saving(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LocalRuntime]:
    watch = request.param == "watched"
    async with LocalRuntime(watch=watch, check_saves=True, pycache_dir=tmp_path / "pyc") as rt:
        yield rt


async def test_invoking_at_once_after_each_save_runs_the_new_code(
    saving: LocalRuntime, tmp_path: Path
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    _write(code / "app.py", "v0")
    saving.configure(fn("now", "app.handler", code=code))
    assert (await _version(saving, "now"))["v"] == "v0"
    seen = []
    for i in range(20):
        version = "v1" if i % 2 == 0 else "v2"  # alternating, same size
        _write(code / "app.py", version)
        seen.append((await _version(saving, "now"))["v"])
    assert seen == ["v1", "v2"] * 10


async def test_a_module_the_handler_imports_saved_then_invoked_at_once(
    saving: LocalRuntime, tmp_path: Path
) -> None:
    code = tmp_path / "code"
    (code / "lib").mkdir(parents=True)
    (code / "lib" / "__init__.py").write_text("")
    (code / "lib" / "words.py").write_text("WORD = 'one'\n")
    (code / "app.py").write_text(
        "from lib import words\n\ndef handler(e, c):\n    return words.WORD\n"
    )
    saving.configure(fn("dep", "app.handler", code=code))
    assert (await saving.invoke("dep", b"{}")).payload == b'"one"'
    for word in ("two", "six", "ten"):
        (code / "lib" / "words.py").write_text(f"WORD = {word!r}\n")
        assert (await saving.invoke("dep", b"{}")).payload == f'"{word}"'.encode()


async def test_a_module_imported_inside_the_handler_is_checked_from_then_on(
    tmp_path: Path,
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "late.py").write_text("WORD = 'one'\n")
    (code / "app.py").write_text("def handler(e, c):\n    import late\n    return late.WORD\n")
    async with LocalRuntime(watch=False, check_saves=True, pycache_dir=tmp_path / "pyc") as rt:
        rt.configure(fn("late", "app.handler", code=code))
        assert (await rt.invoke("late", b"{}")).payload == b'"one"'
        (code / "late.py").write_text("WORD = 'two'\n")
        assert (await rt.invoke("late", b"{}")).payload == b'"two"'
        assert rt.reloads["late"] == 1


async def test_a_rewrite_that_keeps_size_and_mtime_is_still_seen(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    target = code / "app.py"
    _write(target, "AAAA")
    async with LocalRuntime(watch=False, check_saves=True, pycache_dir=tmp_path / "pyc") as rt:
        rt.configure(fn("same", "app.handler", code=code))
        assert (await _version(rt, "same"))["v"] == "AAAA"
        for version in ("BBBB", "CCCC"):
            before = target.stat()
            _write(target, version)
            os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
            assert (target.stat().st_size, target.stat().st_mtime_ns) == (
                before.st_size,
                before.st_mtime_ns,
            )
            assert (await _version(rt, "same"))["v"] == version


async def test_files_the_worker_never_imported_do_not_reload(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    _write(code / "app.py", "same")
    (code / "unused.py").write_text("X = 1\n")
    (code / "notes.txt").write_text("draft\n")
    async with LocalRuntime(watch=False, check_saves=True, pycache_dir=tmp_path / "pyc") as rt:
        rt.configure(fn("calm", "app.handler", code=code))
        first = await _version(rt, "calm")
        (code / "unused.py").write_text("X = 2\n")
        (code / "notes.txt").write_text("final\n")
        (code / "new_module.py").write_text("Y = 1\n")
        assert await _version(rt, "calm") == first  # same environment, same code
        assert rt.reloads["calm"] == 0
        # and the check is really on: the handler itself changing does reload
        _write(code / "app.py", "next")
        assert (await _version(rt, "calm"))["v"] == "next"
        assert rt.reloads["calm"] == 1


async def test_a_broken_save_invoked_at_once_then_a_fixed_one(
    saving: LocalRuntime, tmp_path: Path
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    _write(code / "app.py", "good")
    saving.configure(fn("mend", "app.handler", code=code))
    assert (await _version(saving, "mend"))["v"] == "good"
    (code / "app.py").write_text("def handler(e, c)\n    return 1\n")
    broken = await saving.invoke("mend", b"{}")
    assert broken.function_error == "Unhandled"
    error = json.loads(broken.payload)
    assert error["errorType"] == "Runtime.UserCodeSyntaxError"
    assert error["errorMessage"] == "Syntax error in module 'app': expected ':' (app.py, line 1)"
    _write(code / "app.py", "mended")
    assert (await _version(saving, "mend"))["v"] == "mended"


async def test_the_watcher_does_not_reload_again_for_a_save_the_check_handled(
    watching: LocalRuntime, tmp_path: Path
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    source = "NOTE = open('note.txt').read()\n\ndef handler(e, c):\n    return [{v!r}, NOTE]\n"
    (code / "note.txt").write_text("draft")
    (code / "app.py").write_text(source.format(v="one"))
    watching.configure(fn("once", "app.handler", code=code))
    assert json.loads((await watching.invoke("once", b"{}")).payload) == ["one", "draft"]
    (code / "app.py").write_text(source.format(v="two"))
    assert json.loads((await watching.invoke("once", b"{}")).payload) == ["two", "draft"]
    # note.txt is no module: only the watcher reloads for it, and its event comes after
    # app.py's; whichever saw app.py first (check or watcher), that save reloads once
    (code / "note.txt").write_text("final")
    while True:
        await watching.wait_reload("once", watching.reloads["once"])
        result = json.loads((await watching.invoke("once", b"{}")).payload)
        if result == ["two", "final"]:
            break
    assert watching.reloads["once"] == 2


async def test_a_save_after_an_importing_environment_read_the_file(tmp_path: Path) -> None:
    """Environments report each file as they read it, so one still in its init is covered."""
    code = tmp_path / "code"
    code.mkdir()
    gate = code / "gate"
    os.mkfifo(gate)
    (code / "words.py").write_text("WORD = 'one'\n")
    (code / "app.py").write_text(
        "import os\nimport words\n\n"
        "if os.path.exists('gate'):\n    open('gate').read()  # held here by the test\n\n"
        "def handler(e, c):\n    return words.WORD\n"
    )
    async with LocalRuntime(
        watch=False, check_saves=True, max_workers=1, pycache_dir=tmp_path / "pyc"
    ) as rt:
        rt.configure(fn("slow", "app.handler", code=code))
        first = asyncio.ensure_future(rt.invoke("slow", b"{}"))
        # opening the gate for writing returns once the environment waits on it: words.py read
        writer = await asyncio.wait_for(asyncio.to_thread(os.open, gate, os.O_WRONLY), 10)
        gate.unlink()  # the next environment does not wait
        (code / "words.py").write_text("WORD = 'two'\n")
        second = asyncio.ensure_future(rt.invoke("slow", b"{}"))
        await asyncio.sleep(0)  # let the second invocation be dispatched while the first waits
        os.close(writer)
        assert (await first).payload == b'"one"'  # it started before the save
        assert (await second).payload == b'"two"'
        assert rt.reloads["slow"] == 1


async def test_a_handler_writing_junk_on_the_loaded_files_pipe_changes_nothing(
    tmp_path: Path,
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "words.py").write_text("WORD = 'one'\n")
    (code / "app.py").write_text(
        "import os\nimport stat\nimport words\n\n"
        "def handler(e, c):\n"
        "    for fd in range(3, 64):  # the one pipe besides stdout/stderr is relay's\n"
        "        try:\n"
        "            if stat.S_ISFIFO(os.fstat(fd).st_mode):\n"
        "                os.write(fd, b'junk\\n[1, 2]\\n' + b'x' * 200000)\n"
        "        except OSError:\n"
        "            pass\n"
        "    return words.WORD\n"
    )
    async with LocalRuntime(watch=False, check_saves=True, pycache_dir=tmp_path / "pyc") as rt:
        rt.configure(fn("junk", "app.handler", code=code))
        assert (await rt.invoke("junk", b"{}")).payload == b'"one"'
        assert (await rt.invoke("junk", b"{}")).payload == b'"one"'
        assert sorted(rt.checked_files("junk")) == [str(code / "app.py"), str(code / "words.py")]
        (code / "words.py").write_text("WORD = 'two'\n")
        assert (await rt.invoke("junk", b"{}")).payload == b'"two"'


# Saves still being written: an in-place save (open with O_TRUNC, write, close) is reported from
# its truncation on; a worker importing the file then would run half of it ---------------------
async def test_a_save_seen_while_written_runs_once_when_its_file_is_closed(
    watching: LocalRuntime, tmp_path: Path
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    app = code / "app.py"
    _write(app, "one")
    watching.configure(fn("torn", "app.handler", code=code))
    assert (await _version(watching, "torn"))["v"] == "one"
    source = HANDLER.format(v="two")
    with app.open("w") as saving:  # truncated: the watcher reports the file from here on
        saving.write(source[:30])
        saving.flush()
        await until(lambda: watching.saves_in_progress() == {str(app)}, "the save held back")
        assert watching.reloads["torn"] == 0  # nothing runs the half-written file
        saving.write(source[30:])
    assert await watching.wait_reload("torn", 0) == 1
    assert (await _version(watching, "torn"))["v"] == "two"
    _write(app, "six")  # the next save is the next reload: none came for the first one's events
    assert await watching.wait_reload("torn", 1) == 2
    assert (await _version(watching, "torn"))["v"] == "six"
    assert watching.reloads["torn"] == 2


async def test_an_invocation_during_a_save_waits_for_the_whole_file(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    app = code / "app.py"
    _write(app, "one")
    async with LocalRuntime(watch=False, check_saves=True, pycache_dir=tmp_path / "pyc") as rt:
        rt.configure(fn("mid", "app.handler", code=code))
        assert (await _version(rt, "mid"))["v"] == "one"
        source = HANDLER.format(v="two")
        with app.open("w") as saving:
            saving.write(source[:30])  # a SyntaxError, were it imported
            saving.flush()
            invocation = asyncio.ensure_future(_version(rt, "mid"))
            await asyncio.sleep(0)  # the invocation runs up to its first wait: the check
            assert rt.reloads["mid"] == 0  # it waits for the writer, old workers untouched
            saving.write(source[30:])
        assert (await invocation)["v"] == "two"
        assert rt.reloads["mid"] == 1


async def test_a_file_kept_open_for_writing_does_not_hold_reloads_back_for_ever(
    watching: LocalRuntime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A log or database the handler keeps open in its code folder: after SETTLE_LIMIT_S the
    batch is acted on anyway (here at once), and that file is not waited for again."""
    monkeypatch.setattr(reload, "SETTLE_LIMIT_S", 0.0)
    code = tmp_path / "code"
    code.mkdir()
    app = code / "app.py"
    _write(app, "one")
    watching.configure(fn("open", "app.handler", code=code))
    assert (await _version(watching, "open"))["v"] == "one"
    with app.open("w") as kept:
        kept.write(HANDLER.format(v="two"))
        kept.flush()
        assert await watching.wait_reload("open", 0) == 1
        assert (await _version(watching, "open"))["v"] == "two"
        # known to be kept open: the next change reloads at once even with a long limit
        monkeypatch.setattr(reload, "SETTLE_LIMIT_S", 600.0)
        kept.seek(0)
        kept.truncate()
        kept.write(HANDLER.format(v="six"))
        kept.flush()
        assert await watching.wait_reload("open", 1) == 2
        assert (await _version(watching, "open"))["v"] == "six"


async def test_a_file_relay_writes_itself_never_holds_a_save_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`relay run --watch > out.json` in the code folder: relay keeps out.json open for writing
    for good; ignored, it must not make the watcher wait for its writer."""
    monkeypatch.setattr(reload, "SETTLE_LIMIT_S", 600.0)
    code = tmp_path / "code"
    code.mkdir()
    app, out = code / "app.py", code / "out.json"
    _write(app, "one")
    with out.open("w") as output:
        async with LocalRuntime(
            watch=True, pycache_dir=tmp_path / "pyc", ignore=lambda path: path == str(out)
        ) as rt:
            rt.configure(fn("out", "app.handler", code=code))
            assert (await _version(rt, "out"))["v"] == "one"
            output.write('{"v": "one"}\n')
            output.flush()
            _write(app, "two")
            assert await rt.wait_reload("out", 0) == 1
            assert (await _version(rt, "out"))["v"] == "two"


def test_being_written_tells_a_file_open_for_writing(tmp_path: Path) -> None:
    path = tmp_path / "app.py"
    path.write_text("x = 1\n")
    assert not reload.being_written(str(path))
    for mode in ("w", "a", "r+"):
        with path.open(mode):
            assert reload.being_written(str(path)), mode
        assert not reload.being_written(str(path)), mode
    with path.open("r"):
        assert not reload.being_written(str(path))  # readers are no save
    assert not reload.being_written(str(tmp_path))  # a folder
    assert not reload.being_written(str(tmp_path / "gone.py"))


@pytest.mark.parametrize(
    ("relative", "reloads"),
    [
        ("app.py", True),
        ("pkg/mod.py", True),
        ("data/prices.json", True),
        ("requirements.txt", True),
        (".app.py.tmp", False),  # an editor's temporary file before its rename
        (".#app.py", False),  # emacs' lock
        ("#app.py#", False),  # emacs' autosave
        ("4913", False),  # vim's probe
        ("app.py.swp", False),
        ("app.py~", False),
        ("app.py.bak", False),
        ("notes.tmp", False),
        (".relay/records/1.json", False),  # a hidden folder below the root
        ("__pycache__/app.cpython-311.pyc", False),
        ("cdk.out/manifest.json", False),
    ],
)
def test_save_filter_passes_only_what_can_be_code(
    tmp_path: Path, relative: str, reloads: bool
) -> None:
    root = tmp_path / ".projects" / "app"  # a root below a hidden folder is watched normally
    accept = reload.SaveFilter([str(root)])
    assert accept(reload.watchfiles.Change.modified, str(root / relative)) is reloads


async def test_an_editors_temporary_file_never_reaches_a_reload(tmp_path: Path) -> None:
    """Write-to-temp then rename: whatever batches the two land in, only app.py is reported."""
    code = tmp_path / "code"
    code.mkdir()
    app = code / "app.py"
    _write(app, "one")
    batches: list[set[str]] = []
    watcher = reload.CodeWatcher(batches.append)
    watcher.watch([code])
    try:
        probe, saves = code / "probe.py", iter(range(10**6))

        def probe_seen() -> bool:  # the watcher is live once a plain save is reported
            if any(str(probe) in b for b in batches):
                return True
            _write(probe, f"probe {next(saves)}")
            return False

        await until(probe_seen, "the probe")
        temporary = code / ".app.py.tmp"
        _write(temporary, "two")
        os.replace(temporary, app)
        await until(lambda: any(str(app) in b for b in batches), "the save's batch")
    finally:
        await watcher.close()
    assert str(temporary) not in set().union(*batches), batches
