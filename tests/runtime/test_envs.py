"""Per-function environments: a function's declared requirements (and its layers'), built
with uv into a cached environment, hot reload kept, a requirements change rebuilds."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from rt_helpers import fn

from relay.runtime import LocalRuntime, envs
from relay.runtime.envs import EnvBuilder, EnvError, choose_interpreter, declared, own_interpreter

HANDLER = """\
import os
import sys


def handler(event, context):
    names = {}
    for name in event["modules"]:
        try:
            module = __import__(name)
            names[name] = module.__file__
        except ImportError:
            names[name] = None
    return {
        "modules": names,
        "execution_env": os.environ["AWS_EXECUTION_ENV"],
    }
"""
OWN = f"python{sys.version_info.major}.{sys.version_info.minor}"


@pytest.fixture(scope="module")
def env_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Environments in a test folder; uv's download cache stays the user's."""
    return tmp_path_factory.mktemp("envs")


@pytest.fixture
async def runtime(tmp_path: Path, env_cache: Path) -> AsyncIterator[tuple[LocalRuntime, list]]:
    lines: list[str] = []
    builder = EnvBuilder(env_cache, progress=lines.append)
    async with LocalRuntime(watch=True, pycache_dir=tmp_path / "pyc", envs=builder) as rt:
        yield rt, lines


def test_declared_reads_the_code_folder_and_each_layer(tmp_path: Path) -> None:
    code, layer, source_layer = tmp_path / "code", tmp_path / "layer", tmp_path / "entry"
    for folder in (code, layer, source_layer):
        folder.mkdir()
    (code / "pyproject.toml").write_text(
        '[project]\nname = "f"\nversion = "1"\ndependencies = ["humanize==4.11.0"]\n'
    )
    (layer / "requirements.txt").write_text("python-slugify\n")
    (source_layer / "requirements.txt").write_text("text-unidecode\n")
    config = fn("f", "app.handler", code=code, layers=(layer,), source_layers=(source_layer,))
    wanted = declared(config)
    assert wanted.files == (source_layer / "requirements.txt", layer / "requirements.txt")
    assert wanted.specifiers == ("humanize==4.11.0",)


def test_broken_pyproject_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project\n")
    with pytest.raises(EnvError, match=r"pyproject.toml is not valid TOML .*save again"):
        declared(fn("f", "app.handler", code=tmp_path))


def test_interpreter_matches_the_runtime_or_is_the_nearest_with_a_note() -> None:
    assert choose_interpreter(OWN) == (own_interpreter(), None)
    assert choose_interpreter("") == (own_interpreter(), None)
    interpreter, note = choose_interpreter("python3.99")
    assert note == (
        f"runs on {interpreter.tag}: no python3.99 interpreter is installed (install one, "
        "e.g. `uv python install 3.99`, to match Lambda)"
    )


@pytest.fixture
def fake_uv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path]]:
    """A uv that logs each run and lists what ``listing`` holds; relay's cache in tmp_path."""
    runs, listing = tmp_path / "runs", tmp_path / "listing.json"
    listing.write_text("[]")
    uv = tmp_path / "uv"
    uv.write_text(f"#!/bin/sh\necho run >> {runs}\ncat {listing}\n")
    uv.chmod(0o755)
    monkeypatch.setattr(envs, "find_uv", lambda: str(uv))
    monkeypatch.setenv("RELAY_CACHE_DIR", str(tmp_path / "cache"))
    envs._find_interpreters.cache_clear()
    yield runs, listing
    envs._find_interpreters.cache_clear()


def _listed(path: Path, major: int, minor: int) -> dict[str, object]:
    """One entry of `uv python list --output-format json` (the fields relay reads)."""
    version = {"major": major, "minor": minor, "patch": 0}
    return {"path": str(path), "implementation": "cpython", "version_parts": version}


def test_interpreters_are_found_once_and_only_for_another_runtime(
    fake_uv: tuple[Path, Path],
) -> None:
    """relay start warms the discovery during synthesis; the environments then reuse it."""
    runs, _ = fake_uv
    envs.warm_interpreters([OWN, "", "nodejs22.x"])
    assert not runs.exists()  # nothing to find: every runtime is relay's own or not Python
    envs.warm_interpreters([OWN, "python3.99"])
    assert runs.read_text() == "run\n"
    interpreter, note = choose_interpreter("python3.99")
    assert interpreter == own_interpreter() and note is not None
    assert runs.read_text() == "run\n"  # found once per process


def test_the_discovery_is_kept_for_the_next_start_while_the_machine_is_unchanged(
    tmp_path: Path, fake_uv: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    runs, listing = fake_uv
    folder = tmp_path / "bin"
    folder.mkdir()
    python = folder / "python3.98"
    python.write_text("#!/bin/sh\n")
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    listing.write_text(json.dumps([_listed(python, 3, 98)]))
    assert choose_interpreter("python3.98") == (envs.Interpreter(str(python), (3, 98)), None)
    envs._find_interpreters.cache_clear()  # as a new relay process: uv is not asked again
    assert choose_interpreter("python3.98") == (envs.Interpreter(str(python), (3, 98)), None)
    assert choose_interpreter("python3.97")[1] is not None  # missing, and that is kept too
    assert runs.read_text() == "run\n"

    python.write_text("#!/bin/sh\n# another interpreter at the same path\n")
    envs._find_interpreters.cache_clear()
    choose_interpreter("python3.98")
    assert runs.read_text() == "run\n" * 2

    # `pip install` into a virtualenv whose bin/ is on PATH writes scripts there
    (folder / "flask").write_text("#!/bin/sh\n")
    (folder / "pip3.12").write_text("#!/bin/sh\n")
    envs._find_interpreters.cache_clear()
    assert choose_interpreter("python3.98") == (envs.Interpreter(str(python), (3, 98)), None)
    assert runs.read_text() == "run\n" * 2

    listing.write_text(json.dumps([_listed(python, 3, 98), _listed(folder / "python3.97", 3, 97)]))
    (folder / "python3.97").write_text("#!/bin/sh\n")  # a new interpreter on PATH
    envs._find_interpreters.cache_clear()
    assert choose_interpreter("python3.97") == (
        envs.Interpreter(str(folder / "python3.97"), (3, 97)),
        None,
    )
    assert runs.read_text() == "run\n" * 3


def test_a_failing_uv_is_not_kept(fake_uv: tuple[Path, Path]) -> None:
    """A uv that fails (or times out under load) must not become the answer for later starts."""
    runs, _ = fake_uv
    Path(envs.find_uv() or "").write_text(f"#!/bin/sh\necho run >> {runs}\nexit 1\n")
    for _ in range(2):
        envs._find_interpreters.cache_clear()
        assert choose_interpreter("python3.99")[0] == own_interpreter()
    assert runs.read_text() == "run\n" * 2


def test_an_unwritable_cache_only_means_asking_uv_again(
    tmp_path: Path, fake_uv: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    runs, _ = fake_uv
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("RELAY_CACHE_DIR", str(tmp_path / "not-a-folder"))
    for _ in range(2):
        envs._find_interpreters.cache_clear()
        assert choose_interpreter("python3.99")[0] == own_interpreter()
    assert runs.read_text() == "run\n" * 2


def test_nothing_declared_on_relays_interpreter_is_relays_environment(
    tmp_path: Path, env_cache: Path
) -> None:
    env = EnvBuilder(env_cache).env_for(fn("plain", "app.handler", code=tmp_path, runtime=OWN))
    assert env.own is True
    assert env.python == sys.executable


@pytest.mark.anyio
async def test_requirements_are_installed_and_a_change_rebuilds_and_reloads(
    runtime: tuple[LocalRuntime, list[str]], tmp_path: Path, env_cache: Path
) -> None:
    rt, lines = runtime
    assert importlib.util.find_spec("humanize") is None  # relay's own has neither
    assert importlib.util.find_spec("slugify") is None
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(HANDLER)
    (code / "requirements.txt").write_text("humanize==4.11.0\n")
    rt.configure(fn("deps", "app.handler", code=code, runtime=OWN))
    event = json.dumps({"modules": ["humanize", "slugify", "boto3", "awslambdaric"]}).encode()

    first = await rt.invoke("deps", event)
    assert first.function_error is None, first.payload
    answer = json.loads(first.payload)
    assert answer["modules"]["humanize"] is not None
    assert answer["modules"]["slugify"] is None
    assert answer["modules"]["boto3"] is not None  # Lambda's runtime has boto3
    assert answer["execution_env"] == f"AWS_Lambda_{OWN}"
    humanize = Path(answer["modules"]["humanize"])
    assert humanize.is_relative_to(env_cache)  # the function's own environment
    assert lines[0] == f"deps: building its environment ({OWN}; {code / 'requirements.txt'})"
    assert lines[-1].startswith("deps: environment ready (")

    reloads = rt.reloads["deps"]
    (code / "requirements.txt").write_text("humanize==4.11.0\npython-slugify==8.0.4\n")
    await rt.wait_reload("deps", reloads, timeout=30)
    second = json.loads((await rt.invoke("deps", event)).payload)
    assert second["modules"]["slugify"] is not None
    slugify = Path(second["modules"]["slugify"])
    assert slugify.is_relative_to(env_cache)
    # another environment, keyed by the new file
    assert slugify.parents[1] != humanize.parents[1]


def test_a_cached_environment_is_found_without_building(tmp_path: Path, env_cache: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "requirements.txt").write_text("humanize==4.11.0\n")
    config = fn("cached", "app.handler", code=code, runtime=OWN)
    EnvBuilder(env_cache).env_for(config)  # built (or already built by the test above)
    lines: list[str] = []
    env = EnvBuilder(env_cache, progress=lines.append).env_for(config)
    assert lines == []
    assert env.own is False
    assert Path(env.site_paths[0], "humanize").is_dir()


def test_a_failing_install_says_what_to_fix(tmp_path: Path, env_cache: Path) -> None:
    (tmp_path / "requirements.txt").write_text("this-package-does-not-exist-relay==0.0.1\n")
    config = fn("broken", "app.handler", code=tmp_path, runtime=OWN)
    with pytest.raises(EnvError) as caught:
        EnvBuilder(env_cache).env_for(config)
    message = str(caught.value)
    assert message.startswith("broken: installing its requirements failed (exit ")
    assert "this-package-does-not-exist-relay" in message
    assert message.endswith("Fix the requirements file and save it: relay builds again.")
    assert not any(p.name.endswith(".tmp") for p in env_cache.iterdir())
