"""The hook that runs inside the app's own process: puts an unmodified CDK app in live mode.

relay/cloud/synth.py writes a ``sitecustomize`` that imports this module when the app runs
under relay; it imports nothing heavy at the top (stdlib only) so the app starts as fast.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

from relay.package_dirs import CDK_DIR

#: Files the app's Python opened (absolute), noted from the start of the app's process.
_opened: set[str] = set()
_tracking = False


def _track_opens() -> None:
    """Note every file the app opens (``open``, ``io.open``, ``Path.read_text``...).

    With the modules it imported, these are the app's inputs: a handler's own file that the
    app never read cannot change the assembly, so saving it does not make relay synthesize the
    app again at the next start (relay/cloud/synth.py).
    """
    import builtins
    import io
    import os

    global _tracking
    original = builtins.open
    if getattr(original, "_relay", False):
        return

    def open_(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, (str, bytes, os.PathLike)):
            with contextlib.suppress(TypeError, ValueError):
                _opened.add(os.path.abspath(os.fsdecode(file)))
        return original(file, *args, **kwargs)

    open_._relay = True  # type: ignore[attr-defined]
    builtins.open = io.open = open_  # type: ignore[assignment]
    _tracking = True


def read_files(root: str) -> list[str] | None:
    """The files under ``root`` that the app opened or imported; None if not tracked."""
    import os

    if not _tracking:
        return None
    files = set(_opened)
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str):
            files.add(os.path.abspath(path))
    prefix = os.path.join(root, "")
    return sorted(f for f in files if f.startswith(prefix))


#: The fd (from relay) on which b"1" says the assembly and its live record are written.
DONE_FD_ENV = "RELAY_SYNTH_DONE_FD"


def _done_fd() -> int | None:
    import os

    try:
        fd = int(os.environ.pop(DONE_FD_ENV, ""))
        os.set_inheritable(fd, False)  # the app's own subprocesses must not hold it open
    except (ValueError, OSError):
        return None
    return fd


_done: list[int] = []


def _say_done() -> None:
    """Tell relay the assembly is complete: it need not wait for this process to exit."""
    import os

    while _done:
        fd = _done.pop()
        with contextlib.suppress(OSError):
            os.write(fd, b"1")
        with contextlib.suppress(OSError):
            os.close(fd)


def install_hook() -> None:
    """Patch ``aws_cdk.Stage.synth`` as soon as the app imports ``aws_cdk``."""
    import importlib.abc
    import importlib.util

    _track_opens()
    fd = _done_fd()
    if fd is not None:
        _done.append(fd)

    class _Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, name: str, path: Any, target: Any = None) -> Any:  # noqa: ARG002
            if name != "aws_cdk":
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            if spec is None or spec.loader is None:
                return spec
            loader = spec.loader
            original = loader.exec_module  # type: ignore[attr-defined]

            def exec_module(module: Any) -> None:
                original(module)
                _patch_stage(module)

            loader.exec_module = exec_module  # type: ignore[method-assign]
            return spec

    if "aws_cdk" in sys.modules:
        _patch_stage(sys.modules["aws_cdk"])
    else:
        sys.meta_path.insert(0, _Finder())


def _patch_stage(aws_cdk: Any) -> None:
    """Wrap ``synth`` of ``Stage`` and ``App`` (App overrides it) to apply live mode first,
    and note what the app's own construct calls say (``relay.cdk.live.watch_app_calls``)."""
    _relay_live_module().watch_app_calls(aws_cdk)
    for cls in (aws_cdk.Stage, aws_cdk.App):
        if "synth" in cls.__dict__ and not getattr(cls.__dict__["synth"], "_relay", False):
            cls.synth = _live_synth(cls.__dict__["synth"])


def _relay_live_module() -> Any:
    """``relay.cdk.live``, imported in the app's own Python.

    relay's folder is on the app's ``sys.path`` (last), so ``relay`` imports; ``relay.cdk``
    does too from a wheel, but from a source checkout it lives in ``infra/``, mapped by an
    editable install's import hook that the app's Python may lack: then it is registered
    from its folder. Either way the app's own ``infra`` package is never touched.
    """
    import importlib
    import importlib.util

    try:
        return importlib.import_module("relay.cdk.live")
    except ModuleNotFoundError as exc:
        if exc.name not in ("relay.cdk", "relay.cdk.live"):
            raise
    spec = importlib.util.spec_from_file_location(
        "relay.cdk", CDK_DIR / "__init__.py", submodule_search_locations=[str(CDK_DIR)]
    )
    assert spec is not None and spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules["relay.cdk"] = package
    spec.loader.exec_module(package)
    return importlib.import_module("relay.cdk.live")


def _live_synth(original: Any) -> Any:
    def synth(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.node.scope is not None:  # a nested stage: the root applies the Aspect
            return original(self, *args, **kwargs)
        live = _relay_live_module()
        enable, write_record = live.enable, live.write_record

        aspect = enable(self)
        assembly = original(self, *args, **kwargs)
        if aspect is not None:
            write_record(aspect, Path(assembly.directory))
            _say_done()
        return assembly

    synth._relay = True  # type: ignore[attr-defined]
    return synth
