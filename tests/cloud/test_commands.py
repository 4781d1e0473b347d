"""relay/cloud/commands.py: `relay synth` without an account, errors from the command."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from relay.cloud import cdk_cli, commands

SAMPLE = Path(__file__).parent.parent / "cdk" / "sample_app"


def test_synth_command_without_account_prints_assembly_last(
    no_aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "shop"
    shutil.copytree(SAMPLE, project)
    assert commands.synth_command("alice", project) == 0
    out, err = capsys.readouterr()
    debug, folder = (Path(line) for line in out.strip().splitlines()[-2:])
    assert folder == project / ".relay" / "stages" / "alice" / "cdk.out.live"
    # everything relay deploys: the debug stack's assembly too, for review before going live
    assert debug == project / ".relay" / "stages" / "alice" / "cdk.out.debug"
    assert cdk_cli.run_cdk(["ls", "--app", str(debug)], project).strip().splitlines()[-1] == (
        "relay-alice-debug"
    )
    assert "stubs point at placeholders" in err
    assert "not relayed: shop-alice/Audit (runtime nodejs22.x" in err
    # The pinned toolkit reads relay's assembly as it would for a deploy.
    listed = cdk_cli.run_cdk(["ls", "--app", str(folder)], project)
    assert listed.strip().splitlines()[-1] == "shop-alice"


def test_synth_errors_surface_from_the_command(
    no_aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert commands.synth_command("alice", tmp_path) == 1
    assert "no cdk.json in" in capsys.readouterr().err
