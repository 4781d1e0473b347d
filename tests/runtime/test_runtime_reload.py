"""Hot reload: a save retires the function's environments and the next invocation runs new code."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rt_helpers import fn

from relay.runtime import LocalRuntime

pytestmark = pytest.mark.anyio

HANDLER = (
    "import os\n\ndef handler(event, context):\n    return {{'v': {v!r}, 'pid': os.getpid()}}\n"
)


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
