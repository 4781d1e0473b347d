"""relay's command line as a user meets it: version, help, error style, no Node.js banner."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

import relay

E2E_APP = Path(__file__).parent / "e2e" / "app"


def _relay(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "-m", "relay", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=cwd,
    )


def test_version_is_the_installed_distributions() -> None:
    proc = _relay("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"relay {relay.__version__}\n"
    assert relay.__version__ == version("relay-lambda")


@pytest.mark.parametrize("command", ["run", "start", "invoke", "init", "events", "replay"])
def test_help_names_values_the_usual_way(command: str) -> None:
    proc = _relay(command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert not re.search(r"\{\w+\}|<(str|int|float|path|list\[\w+\])>", proc.stdout), proc.stdout


def test_help_of_run_reads_as_a_usage_line() -> None:
    proc = _relay("run", "--help")
    assert "Usage: relay run [OPTIONS] HANDLER\n" in proc.stdout
    assert "  --env K=V " in proc.stdout
    assert "  --timeout SECONDS " in proc.stdout


def test_errors_have_one_style(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["CI"] = "1"  # not interactive: relay must not ask for a stage
    proc = _relay("invoke", "Hello", "--app", str(tmp_path), env=env)
    assert proc.returncode == 2
    assert proc.stderr.startswith("relay: error: no stage given and none stored in .relay/stage.")
    proc = _relay("init", "emacs", "--app", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr == (
        "relay: error: unknown target 'emacs': the only one is 'vscode' (relay init vscode).\n"
    )


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_no_node_banner_and_no_bytes_reprs_when_relay_runs_cdk_in_its_own_process(
    tmp_path: Path,
) -> None:
    """jsii prints an eleven-line banner (as Python bytes reprs, through its stderr sink)
    under a Node.js it calls end-of-life; relay sets jsii's switches before importing it."""
    app = tmp_path / "app"
    shutil.copytree(E2E_APP, app, ignore=shutil.ignore_patterns("__pycache__", "cdk.out"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("JSII_SILENCE_WARNING")}
    env.pop("AWS_REGION", None)
    env.pop("AWS_DEFAULT_REGION", None)
    proc = _relay("synth", "--stage", "banner", "--app", str(app), env=env, cwd=app)
    assert proc.returncode == 0, proc.stderr
    output = proc.stdout + proc.stderr
    assert "end-of-life" not in output and "This software" not in output, output
    assert "b'" not in output, output
    assert proc.stdout.strip().endswith("cdk.out.live")
