"""Stage resolution: --stage wins, then .relay/stage, then one prompt, never a prompt in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from relay import stage as stages


def test_explicit_stage_wins_over_stored(tmp_path: Path) -> None:
    (tmp_path / ".relay").mkdir()
    (tmp_path / ".relay" / "stage").write_text("bob\n")
    assert stages.resolve("alice", tmp_path) == "alice"


def test_stored_stage_is_used(tmp_path: Path) -> None:
    (tmp_path / ".relay").mkdir()
    (tmp_path / ".relay" / "stage").write_text("bob\n")
    assert stages.resolve(None, tmp_path) == "bob"


def test_invalid_stage_names_are_rejected_with_the_rule(tmp_path: Path) -> None:
    for bad in ("Alice", "1abc", "a_b", "x" * 25, ""):
        if not bad:
            continue
        with pytest.raises(stages.StageError, match="not a valid stage name"):
            stages.resolve(bad, tmp_path)


def test_no_terminal_means_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(stages, "_interactive", lambda: False)
    with pytest.raises(stages.StageError, match="--stage NAME"):
        stages.resolve(None, tmp_path)


def test_prompt_once_stores_the_answer_and_ignores_it_in_git(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(stages, "_interactive", lambda: True)
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return ""  # accept the suggestion

    name = stages.resolve(None, tmp_path, prompt=prompt)
    assert name == stages.default_name()
    assert (tmp_path / ".relay" / "stage").read_text() == name + "\n"
    assert (tmp_path / ".relay" / ".gitignore").read_text() == "*\n"
    # Asked once: the second resolution reads the file.
    assert stages.resolve(None, tmp_path, prompt=prompt) == name
    assert len(asked) == 1
    assert stages.default_name() in asked[0]


def test_default_name_is_always_valid(monkeypatch) -> None:
    for user in ("Jane.Doe", "1root", "___", "ÄBC"):
        monkeypatch.setattr(stages.getpass, "getuser", lambda u=user: u)
        stages.validate(stages.default_name())


def test_project_root_finds_nearest_cdk_json(tmp_path: Path) -> None:
    (tmp_path / "cdk.json").write_text("{}")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert stages.project_root(nested) == tmp_path.resolve()


def test_cli_in_ci_without_stage_exits_2_with_message(tmp_path: Path) -> None:
    env = {**os.environ, "CI": "true"}
    proc = subprocess.run(
        [sys.executable, "-m", "relay", "invoke", "Hello", "--app", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "Pass one with --stage NAME" in proc.stderr


def test_cli_help_lists_every_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "relay", "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    for command in ("run", "start", "emulator", "invoke", "synth", "deploy", "remove", "init"):
        assert f"  {command} " in proc.stdout
