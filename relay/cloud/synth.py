"""Synthesis of a CDK app in live mode, the way the CDK toolkit runs it, with a cache.

relay runs the app command from ``cdk.json`` itself (``CDK_OUTDIR`` + ``CDK_CONTEXT_JSON``,
as the toolkit does) with a ``sitecustomize`` on ``PYTHONPATH`` that hooks ``Stage.synth``
once ``aws_cdk`` is imported: an unmodified app is put in live mode by relay, in its own
process. A second start with no change to the app's files or options costs nothing.

The hook itself is relay/cloud/synth_hook.py; reading the assembly is relay/cloud/assembly.py.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from relay import session
from relay.cloud import assembly_cache, synth_hook
from relay.cloud.assembly import RECORD_FILE, Assembly, nested_template
from relay.package_dirs import CDK_DIR, RELAY_ROOT

log = logging.getLogger("relay.synth")

CACHE_KEY_FILE = "relay-cache-key"
HOOK_ENV = "RELAY_SYNTH_HOOK"
#: The fd on which relay's hook writes b"1" once the root ``synth()`` wrote the assembly.
DONE_FD_ENV = "RELAY_SYNTH_DONE_FD"  # = relay.cloud.synth_hook.DONE_FD_ENV
LIVE_CONFIG_ENV = "RELAY_LIVE_CONFIG"  # = relay.cdk.live.CONFIG_ENV (not imported: it loads CDK)
#: Folders that never hold app code; skipped when hashing the app for the cache.
_SKIP_DIRS = {
    ".git", ".relay", "cdk.out", "node_modules", ".venv", "venv", "__pycache__",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".hypothesis", ".idea", ".vscode",
}  # fmt: skip
#: Files no CDK app reads as its input, which change between starts: logs (e.g. `relay start
#: --local > relay.log` in the app's folder) and editors' swap and backup files. Without this
#: a start in a folder where the last start wrote its log synthesizes the app again (~2-3 s).
_SKIP_FILES = ("*.log", "*.swp", "*.swo", "*.swx", "*~", ".#*", "#*#", ".DS_Store")
_HOOK_SOURCE = """\
# Written by relay (relay/cloud/synth.py): puts the CDK app in live mode when relay runs it.
import os as _os
import sys as _sys

if _os.environ.get("RELAY_SYNTH_HOOK"):
    _root = _os.environ["RELAY_SYNTH_HOOK"]
    if _root not in _sys.path:
        _sys.path.append(_root)  # last: never shadow the app's own modules
    try:
        from relay.cloud.synth_hook import install_hook as _install
    except Exception as _exc:  # the app must still run; relay reports the missing record
        print(f"relay: live-mode hook not installed: {_exc}", file=_sys.stderr)
    else:
        _install()
"""


class SynthError(Exception):
    """Synthesis could not run or failed; the message says what to do next."""


def read_cdk_json(project: Path) -> dict[str, Any]:
    path = project / "cdk.json"
    if not path.is_file():
        raise SynthError(
            f"no cdk.json in {project}: run relay in the folder of your CDK app, or pass "
            "--app DIR (the folder that holds cdk.json)."
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SynthError(f"{path} is not valid JSON ({exc}); fix it and run again.") from None
    if not isinstance(data, dict) or not isinstance(data.get("app"), str):
        raise SynthError(f'{path} has no "app" command; add one, e.g. "app": "python3 app.py".')
    return data


#: CDK's context key naming the stacks whose assets are bundled (Docker, esbuild...); [] =
#: none. Live synthesis sets it: a relayed function's code is replaced by the stub anyway.
BUNDLING_STACKS = "aws:cdk:bundling-stacks"


def context_for(project: Path, stage: str, extra: Mapping[str, Any] | None = None) -> dict:
    """cdk.json context + cdk.context.json + relay's keys, as the toolkit would merge them."""
    context: dict[str, Any] = dict(read_cdk_json(project).get("context") or {})
    cached = project / "cdk.context.json"
    if cached.is_file():
        context.update(json.loads(cached.read_text()))
    context.update(extra or {})
    context["stage"] = stage
    # The toolkit turns these on; the emulator finds each function's code by asset metadata.
    context.setdefault("aws:cdk:enable-asset-metadata", True)
    context.setdefault("aws:cdk:enable-path-metadata", True)
    return context


#: jsii (aws-cdk-lib's runtime) prints an eleven-line banner on every start under a Node.js it
#: calls end-of-life, deprecated or untested (a newer LTS than it knows); it names the version
#: only, and relay's README says which versions relay supports. Known-broken ones still warn.
JSII_BANNER_SWITCHES = {
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": ",".join(map(str, range(12, 41))),
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1",
}


def silence_jsii_banners(env: MutableMapping[str, str]) -> None:
    """Set the switches in `env` (relay's own os.environ at start-up, or a child's)."""
    for name, value in JSII_BANNER_SWITCHES.items():
        env.setdefault(name, value)


def node_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for CDK processes: this venv's bin first on PATH, Node.js required."""
    env = dict(base if base is not None else os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([venv_bin, env.get("PATH", "")])
    if shutil.which("node", path=env["PATH"]) is None:
        raise SynthError(
            "Node.js was not found on PATH; aws-cdk-lib needs it even to synthesize "
            "(jsii). Install a Node.js LTS release (22 or 24, https://nodejs.org) and run again."
        )
    silence_jsii_banners(env)
    return env


#: (path relative to the app, size, ns mtime) of each of the app's files
Snapshot = list[tuple[str, int, int]]


def _snapshot(root: Path) -> Snapshot:
    """Names, sizes and ns mtimes (content-exact enough, and fast on large apps)."""
    files: Snapshot = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("cdk.out"))
        for name in sorted(names):
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in _SKIP_FILES):
                continue
            path = Path(folder, name)
            try:
                st = path.stat()
            except OSError:
                continue
            files.append((str(path.relative_to(root)), st.st_size, st.st_mtime_ns))
    return files


def _tree_fingerprint(root: Path, digest: Any) -> None:
    """Every file's name, size and mtime (relay's own folders: no handler code in them)."""
    _fold(_snapshot(root), root, digest, None)


def _fold(files: Snapshot, root: Path, digest: Any, inputs: Mapping[str, Any] | None) -> None:
    """Each file's name, size and mtime; only the name of a file the assembly cannot depend
    on (``_handler_code``)."""
    handler_code = _handler_code(root, inputs)
    for relative, size, mtime_ns in files:
        if handler_code(relative):
            digest.update(f"{relative}\0handler code\n".encode())  # added or removed: again
        else:
            digest.update(f"{relative}\0{size}\0{mtime_ns}\n".encode())


def _never(relative: str) -> bool:  # noqa: ARG001
    return False


def _handler_code(root: Path, inputs: Mapping[str, Any] | None) -> Callable[[str], bool]:
    """Whether a file (relative to ``root``) is a relayed function's Python code that the last
    synthesis neither read nor deployed, from that synthesis's record (relay/cdk/live.py).

    Such a file reaches the assembly only as the function's asset, which the stub replaces:
    saving it leaves the assembly as it was, so the next start need not run the app again
    (2.5-11 s). A file the app opened or imported, one under another asset's folder (deployed
    as it is: a custom resource, a bucket deployment, an observed function) and any file
    other than ``.py`` keep counting by content.
    """
    if not inputs:
        return _never
    try:
        relayed = tuple(os.path.join(str(p), "") for p in inputs["relayed_sources"])
        other = [str(p) for p in inputs["other_sources"]]
        read = {str(p) for p in inputs["read"]}
    except (KeyError, TypeError):
        return _never
    other_dirs = tuple(os.path.join(p, "") for p in other)
    base = str(root)

    def handler_code(relative: str) -> bool:
        if not relative.endswith(".py") or not relayed:
            return False
        path = os.path.join(base, relative)
        return (
            path.startswith(relayed)
            and path not in read
            and path not in other
            and not path.startswith(other_dirs)
        )

    return handler_code


def _previous_inputs(out_dir: Path) -> dict[str, Any] | None:
    """What the last synthesis into ``out_dir`` read (None: unknown, every file counts)."""
    try:
        record = json.loads((out_dir / RECORD_FILE).read_text())
    except (OSError, ValueError):
        return None
    inputs = record.get("inputs") if isinstance(record, dict) else None
    return inputs if isinstance(inputs, dict) else None


def _cache_key(
    project: Path,
    command: str,
    context: dict,
    env_keys: dict[str, str],
    files: Snapshot | None = None,
    inputs: Mapping[str, Any] | None = None,
) -> str:
    """``files``: the app's snapshot (None: the command does not read the app's files)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([command, context, env_keys], sort_keys=True).encode())
    if files is not None:
        _fold(files, project, digest, inputs)
    _tree_fingerprint(CDK_DIR, digest)  # relay's Aspect and debug stack
    digest.update(Path(__file__).read_bytes())
    digest.update(Path(synth_hook.__file__).read_bytes())
    stubs = [json.loads(env_keys.get(LIVE_CONFIG_ENV) or "{}").get("stub_dir")]
    stubs.append(env_keys.get("RELAY_STUB_DIR"))
    for stub in stubs:
        if stub and Path(stub).is_dir():
            _tree_fingerprint(Path(stub), digest)
    return digest.hexdigest()


def _hook_dir(project: Path) -> Path:
    folder = project / ".relay" / "hook"
    target = folder / "sitecustomize.py"
    if not target.is_file() or target.read_text() != _HOOK_SOURCE:
        session.private_dir(folder)
        _ensure_gitignored(project)
        target.write_text(_HOOK_SOURCE)
    return folder


def _ensure_gitignored(project: Path) -> None:
    ignore = project / ".relay" / ".gitignore"
    if not ignore.exists():
        session.private_dir(ignore.parent)
        ignore.write_text("*\n")


def synthesize(
    project: Path,
    stage: str,
    *,
    out_dir: Path,
    live: Any = None,  # relay.cdk.live.LiveConfig; typed loosely to keep this module CDK-free
    command: str | None = None,
    context: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    validation: bool = True,
    app_files: bool = True,
    bundle: list[str] | None = None,
    shared_key: Callable[[Mapping[str, Any]], str] | None = None,
) -> Assembly:
    """Run the app command into ``out_dir`` (live mode when ``live`` is given), cached.

    ``app_files=False``: the command does not read the app's files (relay's debug stack), so
    editing the app does not invalidate the cached assembly.

    ``validation=False`` skips CDK's built-in CloudFormation validation, measured at ~4.3 s
    of a ~4.8 s synth here; the emulator path uses it, deploys keep it.
    ``bundle``: in live mode, the stacks (node path patterns) whose assets are bundled;
    none by default, as the stub replaces a relayed function's code (no Docker needed).
    ``shared_key``: the key (from the merged context) of an assembly shared by every app on
    this machine (relay/cloud/assembly_cache.py): used when ``out_dir`` is not current.
    """
    project = project.resolve()
    cdk_json = read_cdk_json(project)
    command = command or cdk_json["app"]
    full_context = context_for(project, stage, context)
    if live is not None:
        full_context[BUNDLING_STACKS] = list(bundle or [])
    relevant = {LIVE_CONFIG_ENV: live.to_json() if live is not None else ""}
    relevant["CDK_VALIDATION"] = "" if validation else "false"
    for key in ("CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION"):
        relevant[key] = ""
    relevant.update(env or {})  # e.g. RELAY_STUB_DIR: a new stub asset means a new assembly
    # taken before the app runs: a file saved while it runs makes the next start run it again
    files = _snapshot(project) if app_files else None
    inputs = _previous_inputs(out_dir) if app_files and live is not None else None
    key = _cache_key(project, command, full_context, relevant, files, inputs)
    marker = out_dir / CACHE_KEY_FILE
    if marker.is_file() and marker.read_text() == key and (out_dir / "manifest.json").is_file():
        return Assembly(out_dir, cached=True)
    shared = shared_key(full_context) if shared_key is not None else None
    if shared is not None and assembly_cache.fetch(shared, out_dir):
        marker.write_text(key)
        return Assembly(out_dir, cached=True)

    run_env = node_env()
    run_env.update(env or {})
    run_env.update({k: v for k, v in relevant.items() if v})
    for k, v in relevant.items():
        if not v:
            run_env.pop(k, None)
    run_env["CDK_OUTDIR"] = str(out_dir)
    run_env["CDK_CONTEXT_JSON"] = json.dumps(full_context)
    if live is not None:
        run_env[HOOK_ENV] = str(RELAY_ROOT)
        run_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(_hook_dir(project)), run_env.get("PYTHONPATH", "")) if p
        )
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    returncode, output = _run_app(command, project, run_env, live is not None)
    if returncode != 0:
        if _DOCKER_FAILED.search(output):
            where = ", ".join(bundle) if bundle else "every stack, as `cdk deploy` does"
            raise SynthError(
                "bundling needs Docker, and Docker failed or is not running here; the app "
                f"itself is fine. Bundled: {where}. Start Docker and run again. The "
                f"output:\n{_tail(output, 12)}"
            )
        raise SynthError(
            f"the CDK app command '{command}' failed (exit {returncode}) in {project}. "
            f"Its output:\n{_tail(output)}\nFix the app and run again."
        )
    if not (out_dir / "manifest.json").is_file():
        raise SynthError(
            f"the app command '{command}' produced no cloud assembly in {out_dir}: "
            "does the app call app.synth()?"
        )
    if live is not None and not (out_dir / RECORD_FILE).is_file():
        raise SynthError(
            f"the app ran but relay's live mode was not applied (no {RECORD_FILE}). The app "
            "command must run Python from this environment (e.g. 'python3 app.py'); if it "
            "cannot, add `relay.cdk.live.enable(app)` before `app.synth()` in the app."
        )
    if shared is not None:
        assembly_cache.publish(shared, out_dir, ignore=(CACHE_KEY_FILE,))
    if files is not None and live is not None:
        now = _previous_inputs(out_dir)
        if now != inputs:  # the key the next start computes, from this synthesis's record
            key = _cache_key(project, command, full_context, relevant, files, now)
    marker.write_text(key)
    return Assembly(out_dir, cached=False)


def _run_app(command: str, project: Path, env: dict[str, str], hooked: bool) -> tuple[int, str]:
    """Run the app command; (exit status, its output), or (0, "") once the assembly is written.

    In live mode relay's hook says when the root ``synth()`` has written the assembly and the
    live record (a byte on ``DONE_FD_ENV``'s pipe). The process then still takes 0.3-3 s to
    exit (jsii stops Node.js, Python finalizes), which a start need not wait for: the exit is
    awaited in a thread, and a failure after the assembly is logged with its output. Without
    the byte (plain synthesis, an app run by another Python, a failure) the read ends at the
    process's exit, as before.
    """
    # a file, not a pipe: nobody reads it while the app exits (closed by _read, or a thread)
    output = tempfile.TemporaryFile()  # noqa: SIM115
    read_end, write_end = os.pipe() if hooked else (-1, -1)
    if hooked:
        env = {**env, DONE_FD_ENV: str(write_end)}
    try:
        proc = subprocess.Popen(
            command, shell=True, cwd=project, env=env,
            stdout=output, stderr=subprocess.STDOUT, pass_fds=(write_end,) if hooked else (),
        )  # fmt: skip
    except OSError as exc:
        output.close()
        if hooked:
            os.close(read_end)
        raise SynthError(f"could not run the app command '{command}': {exc}") from None
    finally:
        if hooked:
            os.close(write_end)
    if hooked:
        try:
            done = os.read(read_end, 1) == b"1"
        finally:
            os.close(read_end)
        if done:
            threading.Thread(target=_after_exit, args=(proc, output, command), daemon=True).start()
            return 0, ""
    returncode = proc.wait()
    return returncode, _read(output)


def _after_exit(proc: subprocess.Popen[bytes], output: Any, command: str) -> None:
    """Reap an app process that already wrote its assembly; say if it then failed."""
    returncode = proc.wait()
    if returncode != 0:
        log.warning(
            "relay: the CDK app command '%s' exited with %s after writing its assembly "
            "(relay uses the assembly). Its output:\n%s",
            command, returncode, _tail(_read(output)),
        )  # fmt: skip
    else:
        output.close()


def _read(output: Any) -> str:
    with output:
        output.seek(0)
        return output.read().decode(errors="replace").strip()


#: CDK's bundling failing for want of Docker (not a fault of the app).
_DOCKER_FAILED = re.compile(
    r"docker exited with status|spawnSync docker ENOENT|Cannot connect to the Docker daemon"
)


def _tail(text: str, lines: int = 40) -> str:
    rows = [r for r in text.splitlines() if not r.startswith("b'!!")]
    return "\n".join(rows[-lines:])


def synthesize_debug(
    project: Path,
    stage: str,
    *,
    stub_dir: Path,
    out_dir: Path,
    env: Mapping[str, str] | None = None,
    validation: bool = True,
) -> Assembly:
    """relay's own debug stack (``python -m relay.cdk.debug_app``), with the app's context.

    Cached by relay's own files, the context and the stub, not the app's files: an edited
    handler re-synthesizes the app only (a first start after an edit saves one jsii run), and
    the assembly is shared by every app with the same inputs (relay/cloud/assembly_cache.py):
    a first start of another app does not synthesize it either.
    """
    extra_env = {"RELAY_STUB_DIR": str(stub_dir), **(env or {})}
    pythonpath = os.pathsep.join(p for p in (str(RELAY_ROOT), os.environ.get("PYTHONPATH")) if p)
    extra_env["PYTHONPATH"] = pythonpath
    command = f"{_quote(sys.executable)} -m relay.cdk.debug_app"
    # What the command gets besides paths (the stub's and relay's own are keyed by content).
    values = {k: v for k, v in extra_env.items() if k not in ("RELAY_STUB_DIR", "PYTHONPATH")}
    values["CDK_VALIDATION"] = "" if validation else "false"
    values["PYTHONPATH (the developer's)"] = os.environ.get("PYTHONPATH", "")
    return synthesize(
        project,
        stage,
        out_dir=out_dir,
        command=command,
        env=extra_env,
        validation=validation,
        app_files=False,
        shared_key=lambda ctx: assembly_cache.debug_stack_key(ctx, values, Path(stub_dir)),
    )


def _quote(path: str) -> str:
    import shlex

    return shlex.quote(path)


def write_functions(project: Path, stage: str, assembly: Assembly) -> list[dict[str, Any]]:
    """``.relay/stages/<stage>/functions.json`` from the Aspect's record and the templates.

    Environments come from the synthesized template (a NestedStack's own template for its
    functions; tokens left as CloudFormation expressions so provisioning can resolve them),
    without the variables relay added.
    """
    record = assembly.live_record()
    if record is None:
        raise SynthError(f"{assembly.directory} was not synthesized in live mode")
    stacks = assembly.stacks()
    functions = []
    for fn in record["functions"]:
        stack = stacks.get(fn["stack"]) or {}
        template = nested_template(stack, fn.get("nested") or []) if stack else None
        resource = (template or {}).get("Resources", {}).get(fn["logical_id"])
        props = (resource or {}).get("Properties", {})
        variables = dict((props.get("Environment") or {}).get("Variables") or {})
        for key in fn.get("added_environment", []):
            variables.pop(key, None)
        layers, source_layers, missing = [], [], []
        for lid in fn.get("layers", []):
            layer = record["layers"].get(f"{fn.get('stack_path') or fn['stack']}/{lid}")
            if layer is None:
                missing.append(lid)
            elif layer.get("python_root"):
                source_layers.append(layer["dir"])
            else:
                layers.append(layer["dir"])
        functions.append(
            {
                "path": fn["path"],
                "stack": fn["stack"],
                "stack_name": stack.get("stack_name", fn["stack"]),
                "nested": fn.get("nested") or [],
                "logical_id": fn["logical_id"],
                "relayed": fn["relayed"],
                "reason": fn.get("reason"),
                "note": fn.get("note"),
                "runtime": fn["runtime"],
                "handler": fn["handler"],
                "code_dir": fn["code_dir"],
                "timeout": fn["timeout"],
                "memory": fn["memory"],
                "layers": layers,
                "source_layers": source_layers,
                "remote_layers": missing,  # ARNs (or logical ids) with no local folder
                "environment": variables,
                "warnings": fn.get("warnings", []),
            }
        )
    _ensure_gitignored(project)
    session.write_json_atomic(
        session.stage_dir(project, stage) / "functions.json",
        {"stage": stage, "assembly": str(assembly.directory), "functions": functions},
    )
    return functions


def previous_functions(project: Path, stage: str) -> list[dict[str, Any]]:
    """The records :func:`write_functions` saved at the stage's last synthesis ([] if none)."""
    path = session.stage_dir(project, stage) / "functions.json"
    try:
        functions = json.loads(path.read_text())["functions"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [f for f in functions if isinstance(f, dict)] if isinstance(functions, list) else []
