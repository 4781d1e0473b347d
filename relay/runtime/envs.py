"""Each function's own Python environment: the packages its deployment would have.

A function declares its packages in ``requirements.txt`` or ``pyproject.toml`` in its code
folder (a ``PythonFunction`` entry), and its layers in their ``requirements.txt``. Those are
installed with uv (pip when uv is missing) into an environment keyed by the hash of what it
installs and the interpreter, with awslambdaric (the runtime client) and boto3 (which Lambda's
Python runtimes include) added. The code and layer folders themselves are never installed:
they stay on ``sys.path`` as they are, so a save reloads. A function that declares nothing and
runs on relay's own interpreter uses relay's environment (as before; spares apply).

Each environment is built once; later starts read one small JSON file. A changed
requirements file gives another key, so the next environment of that function is built anew.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relay.runtime.config import FunctionConfig, runtime_paths, stdlib_paths

Progress = Callable[[str], None]
#: Where environments live; RELAY_ENV_CACHE moves them (tests use a session folder).
CACHE_ENV = "RELAY_ENV_CACHE"
_INFO_FILE = "relay-env.json"
_FORMAT = 1
_RUNTIME = re.compile(r"^python(\d+)\.(\d+)$")
#: Lines of the installer's output shown as progress (uv's and pip's summaries).
_PROGRESS = re.compile(r"^\s*(Resolved|Prepared|Installed|Downloading|Collecting|Successfully)")


class EnvError(Exception):
    """A function's environment could not be built; the message says why and what to do."""


@dataclass(frozen=True)
class Interpreter:
    executable: str
    version: tuple[int, int]

    @property
    def tag(self) -> str:
        return f"python{self.version[0]}.{self.version[1]}"


@dataclass(frozen=True)
class FunctionEnv:
    """What a worker of one function runs with."""

    python: str  # the interpreter executable
    tag: str  # "python3.12": what AWS_EXECUTION_ENV and layer paths name
    site_paths: tuple[str, ...]  # awslambdaric, boto3 and the declared packages
    stdlib: tuple[str, ...]
    own: bool  # relay's own interpreter and packages: spare workers can serve it
    note: str | None = None  # said once (e.g. the interpreter is not the runtime's)


def own_interpreter() -> Interpreter:
    return Interpreter(sys.executable, (sys.version_info.major, sys.version_info.minor))


def own_env(note: str | None = None) -> FunctionEnv:
    return FunctionEnv(
        python=sys.executable,
        tag=own_interpreter().tag,
        site_paths=tuple(runtime_paths()),
        stdlib=tuple(stdlib_paths()),
        own=True,
        note=note,
    )


def default_cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "relay" / "envs"


@functools.cache
def find_uv() -> str | None:
    """uv from the ``uv`` package relay depends on, else one on PATH."""
    with contextlib.suppress(ImportError, FileNotFoundError):
        from uv import find_uv_bin

        return str(find_uv_bin())
    return shutil.which("uv")


# --- what a function declares ---------------------------------------------------------------


@dataclass(frozen=True)
class Declared:
    """The requirement files and specifiers a function's environment installs."""

    files: tuple[Path, ...]  # requirements.txt files, passed to the installer as -r
    specifiers: tuple[str, ...]  # from pyproject.toml's [project] dependencies

    def __bool__(self) -> bool:
        return bool(self.files or self.specifiers)

    def fingerprint(self) -> str:
        parts = [f"{p}\0{p.read_text(errors='replace')}" for p in self.files]
        return "\n".join([*parts, *self.specifiers])

    def describe(self) -> str:
        names = [str(p) for p in self.files] + (["pyproject.toml"] if self.specifiers else [])
        return ", ".join(names)


def declared(config: FunctionConfig) -> Declared:
    """requirements.txt (or pyproject.toml's dependencies) of the code and each layer folder."""
    files: list[Path] = []
    specifiers: list[str] = []
    for folder in (config.code_dir, *config.source_layers, *config.layers):
        requirements = folder / "requirements.txt"
        pyproject = folder / "pyproject.toml"
        if requirements.is_file():
            files.append(requirements)
        elif pyproject.is_file():
            specifiers.extend(_pyproject_dependencies(pyproject))
    return Declared(tuple(files), tuple(specifiers))


def _pyproject_dependencies(path: Path) -> list[str]:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise EnvError(f"{path} is not valid TOML ({exc}); fix it and save again.") from None
    dependencies = (data.get("project") or {}).get("dependencies") or []
    return [str(d) for d in dependencies]


# --- interpreters ---------------------------------------------------------------------------


_finding = threading.Lock()


def installed_interpreters() -> tuple[Interpreter, ...]:
    """Python interpreters on this machine (uv finds them; relay's own is always one).

    Found once per process; a caller while another thread is finding them waits for that.
    """
    with _finding:
        return _find_interpreters()


def warm_interpreters(runtimes: Iterable[str]) -> None:
    """Find the interpreters now if any of these runtimes is not relay's own Python (uv
    takes seconds where it must ask pyenv's shims), so the first environment does not wait."""
    own = own_interpreter().version
    for runtime in runtimes:
        match = _RUNTIME.match(runtime or "")
        if match is not None and (int(match.group(1)), int(match.group(2))) != own:
            installed_interpreters()
            return


@functools.cache
def _find_interpreters() -> tuple[Interpreter, ...]:
    """uv's answer, kept in relay's cache folder across starts (uv takes 1-9 s where it must
    run every pyenv shim on PATH); asked again only when the cached answer is not current."""
    uv = find_uv()
    landscape = _landscape(uv)
    cached = _read_discovery(landscape)
    if cached is not None:
        return cached
    found = {own_interpreter().version: own_interpreter()}
    answered = uv is None  # without uv, relay's own interpreter is the whole answer
    if uv is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError, ValueError):
            out = subprocess.run(
                [uv, "python", "list", "--only-installed", "--output-format", "json"],
                capture_output=True, text=True, timeout=30,
                env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
            )  # fmt: skip
            for entry in json.loads(out.stdout or "[]"):
                version = entry.get("version_parts") or {}
                key = (int(version.get("major", 0)), int(version.get("minor", 0)))
                path = entry.get("path")
                if path and entry.get("implementation") == "cpython" and key not in found:
                    found[key] = Interpreter(path, key)
            answered = out.returncode == 0
    interpreters = tuple(sorted(found.values(), key=lambda i: i.version))
    if answered:  # a timeout or a failing uv is not kept: the next start asks again
        _write_discovery(landscape, interpreters)
    return interpreters


# --- the discovery's persistent cache -------------------------------------------------------


def _discovery_path() -> Path:
    """One file per relay interpreter and PATH (two installs of relay, or a shell and an IDE
    with different PATHs, do not overwrite each other's)."""
    from relay.cloud.stub_asset import cache_root

    owner = f"{sys.executable}\0{os.environ.get('PATH', '')}"
    owner = hashlib.sha256(owner.encode()).hexdigest()[:12]
    return cache_root() / f"interpreters-{owner}.json"


def _stamp(path: str) -> list[int] | None:
    """The identity of a file or folder as it is now (None: not there)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def _pythons(folder: str) -> list[list[Any]] | None:
    """The ``python*`` entries of a folder on PATH, each with its stamp (None: no folder).

    Not the folder's own mtime: ``pip install`` in a virtualenv writes scripts into its
    ``bin/``, which is on PATH, and must not make the next start ask uv again (1-9 s with
    pyenv's shims); a new or replaced interpreter there still does.
    """
    try:
        with os.scandir(folder) as entries:
            names = sorted(e.name for e in entries if e.name.startswith("python"))
    except OSError:
        return None
    return [[name, _stamp(os.path.join(folder, name))] for name in names]


def _landscape(uv: str | None) -> dict[str, Any]:
    """What decides which interpreters uv finds, cheap to read (a listing of each folder on
    PATH, a few stat calls).

    An interpreter appears or goes away through a folder on PATH (a ``python*`` entry added,
    removed or replaced), uv's own installs, or pyenv's choice of version (global file,
    PYENV_VERSION, a ``.python-version`` here or above, which its shims obey).
    """
    folders = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    uv_dir = os.environ.get("UV_PYTHON_INSTALL_DIR") or str(
        Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "uv" / "python"
    )
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    local_versions = [
        str(folder / ".python-version") for folder in (Path.cwd(), *Path.cwd().parents)
    ]
    watched = [uv_dir, str(Path(pyenv_root) / "version"), *local_versions]
    return {
        "python": sys.executable,
        "uv": [uv, _stamp(uv) if uv else None],
        "path": folders,
        "pyenv_version": os.environ.get("PYENV_VERSION", ""),
        "uv_python_preference": os.environ.get("UV_PYTHON_PREFERENCE", ""),
        "pythons": {f: listing for f in folders if (listing := _pythons(f)) is not None},
        "stamps": {p: stamp for p in watched if (stamp := _stamp(p)) is not None},
    }


def _read_discovery(landscape: dict[str, Any]) -> tuple[Interpreter, ...] | None:
    """The cached interpreters if the landscape is unchanged and each is the same file."""
    try:
        data = json.loads(_discovery_path().read_text())
        if data.get("format") != _FORMAT or data.get("landscape") != landscape:
            return None
        found = []
        for entry in data["interpreters"]:
            if _stamp(entry["executable"]) != entry["stamp"]:
                return None
            major, minor = entry["version"]
            found.append(Interpreter(entry["executable"], (int(major), int(minor))))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    own = own_interpreter()
    if not any(i == own for i in found):
        return None
    return tuple(found)


def _write_discovery(landscape: dict[str, Any], interpreters: tuple[Interpreter, ...]) -> None:
    """Best effort: an unwritable cache only means uv is asked again next time."""
    data = {
        "format": _FORMAT,
        "landscape": landscape,
        "interpreters": [
            {"executable": i.executable, "version": list(i.version), "stamp": _stamp(i.executable)}
            for i in interpreters
        ],
    }
    path = _discovery_path()
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        staging.write_text(json.dumps(data, indent=1))
        os.replace(staging, path)


def choose_interpreter(runtime: str) -> tuple[Interpreter, str | None]:
    """The interpreter matching a ``pythonX.Y`` runtime, else the nearest (with a note)."""
    own = own_interpreter()
    match = _RUNTIME.match(runtime or "")
    if match is None:
        return own, None
    wanted = (int(match.group(1)), int(match.group(2)))
    if wanted == own.version:
        return own, None
    candidates = installed_interpreters()
    for interpreter in candidates:
        if interpreter.version == wanted:
            return interpreter, None
    nearest = min(candidates, key=lambda i: (abs(i.version[1] - wanted[1]), -i.version[1]))
    return nearest, (
        f"runs on {nearest.tag}: no {runtime} interpreter is installed "
        f"(install one, e.g. `uv python install {wanted[0]}.{wanted[1]}`, to match Lambda)"
    )


@functools.cache
def _interpreter_stdlib(executable: str) -> tuple[str, ...]:
    out = subprocess.run(
        [executable, "-S", "-c", "import json, sys; print(json.dumps(sys.path[1:]))"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return tuple(p for p in json.loads(out.stdout) if p and os.path.exists(p))


# --- building -------------------------------------------------------------------------------


class EnvBuilder:
    """Finds or builds each function's environment; one build per key at a time."""

    def __init__(
        self,
        cache_dir: Path | None = None,
        progress: Progress | None = None,
        label: Callable[[str], str] | None = None,
    ) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.progress = progress
        #: how a function is named in progress lines (its construct path, for people)
        self.label = label or (lambda name: name)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._said: set[str] = set()

    def say(self, line: str) -> None:
        if self.progress is not None:
            self.progress(line)

    def say_once(self, line: str) -> None:
        if line not in self._said:
            self._said.add(line)
            self.say(line)

    def env_for(self, config: FunctionConfig) -> FunctionEnv:
        """The function's environment, built now if it is not cached (blocking)."""
        interpreter, note = choose_interpreter(config.runtime)
        if note is not None:
            self.say_once(f"{self.label(config.name)}: {note}")
        wanted = declared(config)
        if not wanted and interpreter == own_interpreter():
            return own_env(note)
        key = self.key(interpreter, wanted)
        folder = self.cache_dir / key
        with self._lock(key):
            info = _read_info(folder)
            if info is None:
                self._build(config, interpreter, wanted, folder)
                info = _read_info(folder)
                if info is None:
                    raise EnvError(f"the environment in {folder} is incomplete; delete it")
        return FunctionEnv(
            python=info["python"],
            tag=interpreter.tag,
            site_paths=tuple(info["site_paths"]),
            stdlib=tuple(info["stdlib"]),
            own=False,
            note=note,
        )

    def key(self, interpreter: Interpreter, wanted: Declared) -> str:
        digest = hashlib.sha256()
        digest.update(f"{_FORMAT}\0{interpreter.executable}\0{interpreter.tag}\0".encode())
        digest.update(_runtime_packages_line().encode())
        digest.update(wanted.fingerprint().encode())
        return f"{interpreter.tag}-{digest.hexdigest()[:16]}"

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _build(
        self, config: FunctionConfig, interpreter: Interpreter, wanted: Declared, folder: Path
    ) -> None:
        what = wanted.describe() or "no requirements"
        self.say(f"{self.label(config.name)}: building its environment ({interpreter.tag}; {what})")
        staging = folder.with_name(f"{folder.name}.{os.getpid()}.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.parent.mkdir(parents=True, exist_ok=True)
        uv = find_uv()
        try:
            if uv is not None:
                self._run([uv, "venv", "--quiet", "--python", interpreter.executable,
                           str(staging)], config)  # fmt: skip
                python = str(staging / "bin" / "python")
                self._run([uv, "pip", "install", "--python", python, *_install_args(wanted)],
                          config)  # fmt: skip
            else:
                self._run([interpreter.executable, "-m", "venv", str(staging)], config)
                python = str(staging / "bin" / "python")
                self._run([python, "-m", "pip", "install", "--disable-pip-version-check",
                           *_install_args(wanted)], config)  # fmt: skip
            site = _site_packages(staging, interpreter)
            final_python = str(folder / "bin" / "python")
            info = {
                "format": _FORMAT,
                "python": final_python,
                "site_paths": [str(folder / site.relative_to(staging))],
                "stdlib": list(_interpreter_stdlib(interpreter.executable)),
                "declared": what,
            }
            (staging / _INFO_FILE).write_text(json.dumps(info, indent=1))
            if folder.exists():  # another process finished the same build first
                shutil.rmtree(staging, ignore_errors=True)
            else:
                os.replace(staging, folder)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self.say(f"{self.label(config.name)}: environment ready ({folder})")

    def _run(self, command: list[str], config: FunctionConfig) -> None:
        env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": ""}
        env.pop("VIRTUAL_ENV")
        lines: list[str] = []
        try:
            proc = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        except OSError as exc:
            who = self.label(config.name)
            raise EnvError(f"{who}: could not run {command[0]}: {exc}") from None
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            if line:
                lines.append(line)
                if _PROGRESS.match(line):  # uv's summaries, not one line per package
                    self.say(f"{self.label(config.name)}:   {line.strip()}")
        if proc.wait() != 0:
            tail = "\n".join(lines[-15:])
            raise EnvError(
                f"{self.label(config.name)}: installing its requirements failed "
                f"(exit {proc.returncode}):"
                f"\n{tail}\nFix the requirements file and save it: relay builds again."
            )


@functools.cache
def _runtime_packages() -> tuple[str, ...]:
    """awslambdaric at relay's own version; boto3 as Lambda's runtime has it."""
    from importlib.metadata import version

    return (f"awslambdaric=={version('awslambdaric')}", "boto3")


def _runtime_packages_line() -> str:
    return " ".join(_runtime_packages())


def _install_args(wanted: Declared) -> list[str]:
    args: list[str] = []
    for path in wanted.files:
        args += ["-r", str(path)]
    args += list(wanted.specifiers)
    mentioned = wanted.fingerprint().lower()
    for package in _runtime_packages():
        name = re.split(r"[=<>!~ ]", package, maxsplit=1)[0]
        if name == "boto3" and re.search(r"(^|\W)boto3($|\W)", mentioned):
            continue  # the function pins its own
        args.append(package)
    return args


def _site_packages(venv: Path, interpreter: Interpreter) -> Path:
    site = venv / "lib" / interpreter.tag / "site-packages"
    if not site.is_dir():
        raise EnvError(f"{venv} has no {site.relative_to(venv)}; delete it and start again")
    return site


def _read_info(folder: Path) -> dict[str, Any] | None:
    try:
        info: dict[str, Any] = json.loads((folder / _INFO_FILE).read_text())
    except (OSError, ValueError):
        return None
    if info.get("format") != _FORMAT or not Path(info["python"]).exists():
        return None
    return info
