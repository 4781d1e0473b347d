"""relay installed from its wheel (not editable) works in an app that has its own `infra` package.

relay used to install top-level packages named ``infra`` and ``stub_lambda``; an app with its
own ``infra`` (a common name) then broke ``relay start`` under a normal install
("No module named infra.debug_app"). The wheel is built from a copy of the sources and
installed into a fresh venv that borrows this venv's dependencies (no download).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "cdk" / "sample_app"
SOURCES = ["relay", "infra", "stub_lambda", "pyproject.toml", "setup.py", "README.md"]
DEADLINE = 180  # seconds, per subprocess


def _run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=DEADLINE, **kwargs)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy(path, source / name)
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
          "-w", str(dist), str(source)])  # fmt: skip
    (built,) = dist.glob("relay_lambda-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; dependencies come from this venv by path."""
    folder = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", "--without-pip", str(folder)])
    python = folder / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
          str(wheel)])  # fmt: skip
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    # A plain path line: this venv's .pth files (among them relay's editable install) stay unread.
    (Path(purelib.stdout.strip()) / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return folder


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample app with an `infra` package of its own whose modules fail loudly if used."""
    folder = tmp_path_factory.mktemp("app") / "shop"
    shutil.copytree(SAMPLE, folder)
    (folder / "infra").mkdir()
    (folder / "infra" / "__init__.py").write_text("NAME = 'the app own infra'\n")
    for module in ("live", "debug_app", "debug_stack"):
        (folder / "infra" / f"{module}.py").write_text(f"raise SystemExit('app infra.{module}')\n")
    app = (SAMPLE / "app.py").read_text()
    (folder / "app.py").write_text("import infra\nassert infra.NAME\n" + app)
    return folder


def _env(venv: Path, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON", "RELAY_"))}
    env.update(
        PATH=os.pathsep.join([str(venv / "bin"), env.get("PATH", "")]),
        AWS_EC2_METADATA_DISABLED="true",  # no credentials: fail at once, not after IMDS retries
        AWS_CONFIG_FILE=str(tmp / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp / "no-aws-credentials"),
        RELAY_CACHE_DIR=str(tmp / "cache"),
    )
    return env


def test_wheel_installs_relay_cdk_and_stub_lambda_under_relays_name(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("relay_lambda-")}
    assert tops == {"relay"}
    for expected in (
        "relay/cdk/__init__.py", "relay/cdk/debug_app.py", "relay/cdk/live.py",
        "relay/cdk/demo/app.py", "relay/cdk/demo/functions/greeting/app.py",
        "relay/stub_lambda/stub.py", "relay/stub_lambda/connect.py",
        "relay/cloud/cdk_cli.json",
        "relay/ui/console/static/index.html", "relay/ui/console/static/console.js",
        "relay/ui/console/static/console.css",
    ):  # fmt: skip
        assert expected in names
    for package in ROOT.joinpath("relay").rglob("__init__.py"):
        assert package.relative_to(ROOT).as_posix() in names  # every package is listed


@pytest.mark.slow
def test_relay_synth_from_the_wheel_in_an_app_with_its_own_infra(
    venv: Path, app: Path, tmp_path: Path
) -> None:
    env = _env(venv, tmp_path)
    proc = _run([str(venv / "bin" / "relay"), "synth", "--stage", "alice"], cwd=app, env=env)
    assembly = Path(proc.stdout.strip().splitlines()[-1])
    template = json.loads((assembly / "shop-alice.template.json").read_text())
    handlers = sorted(
        r["Properties"]["Handler"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    )
    assert handlers == ["index.handler", "stub.handler"]


@pytest.mark.slow
def test_debug_stack_synth_from_the_wheel_in_an_app_with_its_own_infra(
    venv: Path, app: Path, tmp_path: Path
) -> None:
    """The debug stack is `python -m relay.cdk.debug_app`, run in the app's folder."""
    env = _env(venv, tmp_path)
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from relay.cdk.debug_stack import CLIENT_PRINCIPAL_ENV, debug_stack_name\n"
        "from relay.cloud.cdk_cli import pinned_cli_version\n"
        "from relay.cloud.stub_asset import build_stub_asset\n"
        "from relay.cloud.synth import synthesize_debug\n"
        "assert 'site-packages' in __import__('relay').__file__, __import__('relay').__file__\n"
        "out = Path(sys.argv[1])\n"
        "principal = {CLIENT_PRINCIPAL_ENV: 'arn:aws:iam::123456789012:user/alice'}\n"
        "assembly = synthesize_debug(Path.cwd(), 'alice', stub_dir=build_stub_asset(),\n"
        "                            out_dir=out, env=principal, validation=False)\n"
        "print(pinned_cli_version())\n"
        "print(sorted(s['stack_name'] for s in assembly.stacks().values()))\n"
        "print([debug_stack_name('alice')])\n"
    )
    out = tmp_path / "cdk.out.debug"
    proc = _run([str(venv / "bin" / "python"), "-c", script, str(out)], cwd=app, env=env)
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]
    version, stacks, expected = proc.stdout.splitlines()
    assert version == pinned  # the CDK CLI pin ships as package data
    assert stacks == expected
    assert "alice" in stacks
