"""`relay init vscode`: writes relay's launch configurations, merges without clobbering."""

from __future__ import annotations

import json
from pathlib import Path

import json5
import pytest

from relay.debug.vscode import init_vscode, launch_document

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["Debug relay start", "Attach to relay", "Debug tests"]


def _read(project: Path) -> dict:
    """As VS Code reads it: JSON with comments and trailing commas."""
    return json5.loads((project / ".vscode" / "launch.json").read_text())


def test_fresh_project_gets_the_three_configurations(tmp_path, capsys):
    assert init_vscode(tmp_path) == 0
    document = _read(tmp_path)
    assert document == launch_document(tests=".")
    by_name = {c["name"]: c for c in document["configurations"]}
    assert list(by_name) == NAMES
    start = by_name["Debug relay start"]
    assert (start["request"], start["module"], start["subProcess"]) == ("launch", "relay", True)
    assert start["args"] == ["start", "--stage=${input:relayStage}"]
    attach = by_name["Attach to relay"]
    assert attach["request"] == "attach"
    assert attach["connect"] == {"host": "127.0.0.1", "port": 5678}
    assert by_name["Debug tests"]["module"] == "pytest"
    assert by_name["Debug tests"]["args"] == ["-x", "${input:pytestArgs}"]
    assert {i["id"]: i["default"] for i in document["inputs"]} == {
        "relayStage": "",
        "pytestArgs": ".",
    }
    assert "wrote" in capsys.readouterr().out


def test_repository_launch_json_is_what_init_writes():
    assert json.loads((ROOT / ".vscode" / "launch.json").read_text()) == launch_document()


def test_merge_keeps_other_configurations_and_reads_vscode_comments(tmp_path, capsys):
    (tmp_path / "tests").mkdir()
    vscode = tmp_path / ".vscode"
    vscode.mkdir()
    original = """{
    // Use IntelliSense to learn about possible attributes.
    "version": "0.2.0",
    "configurations": [
        {"name": "My server", "type": "node", "request": "launch", "program": "srv.js"},
        /* an old copy of relay's, to be refreshed */
        {"name": "Attach to relay", "type": "debugpy", "request": "attach", "port": 1},
    ],
    "inputs": [{"id": "mine", "type": "promptString"}],
    "compounds": [{"name": "All", "configurations": ["My server"]}],
}
"""
    (vscode / "launch.json").write_text(original)
    assert init_vscode(tmp_path) == 0
    document = _read(tmp_path)
    names = [c["name"] for c in document["configurations"]]
    assert names == ["My server", "Attach to relay", "Debug relay start", "Debug tests"]
    assert document["configurations"][0] == {
        "name": "My server",
        "type": "node",
        "request": "launch",
        "program": "srv.js",
    }
    assert document["configurations"][1]["connect"] == {"host": "127.0.0.1", "port": 5678}
    assert [i["id"] for i in document["inputs"]] == ["mine", "relayStage", "pytestArgs"]
    assert document["compounds"] == [{"name": "All", "configurations": ["My server"]}]
    assert (vscode / "launch.json.bak").read_text() == original
    merged = (vscode / "launch.json").read_text()
    for kept in (  # comments, and the other configurations as they were written
        "    // Use IntelliSense to learn about possible attributes.\n",
        "        /* an old copy of relay's, to be refreshed */\n",
        '{"name": "My server", "type": "node", "request": "launch", "program": "srv.js"},\n',
        '    "compounds": [{"name": "All", "configurations": ["My server"]}],\n',
    ):
        assert kept in merged, merged
    out = capsys.readouterr().out
    assert "added 'Debug relay start'" in out and "updated 'Attach to relay'" in out

    # A second run changes nothing.
    before = (vscode / "launch.json").read_text()
    assert init_vscode(tmp_path) == 0
    assert (vscode / "launch.json").read_text() == before
    assert "already has" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"configurations": [ {"name": "x",, } ]}', "Unexpected"),
        ("[1, 2]", "top level is not an object"),
        ('{"configurations": {"name": "x"}}', '"configurations" is not a list'),
    ],
)
def test_unmergeable_file_is_left_alone_with_a_clear_message(tmp_path, capsys, text, reason):
    vscode = tmp_path / ".vscode"
    vscode.mkdir()
    (vscode / "launch.json").write_text(text)
    assert init_vscode(tmp_path) == 1
    assert (vscode / "launch.json").read_text() == text
    assert not (vscode / "launch.json.bak").exists()
    err = capsys.readouterr().err
    assert "is not a launch file relay can merge into" in err
    assert reason in err
    assert "Nothing was changed" in err and "relay init vscode" in err


def test_no_cdk_json_says_where_relay_expects_the_app(tmp_path, capsys):
    assert init_vscode(tmp_path) == 0
    out = capsys.readouterr().out
    assert out.endswith(
        f"There is no cdk.json in {tmp_path}: relay expects your CDK app's folder (the one "
        "with cdk.json) as the workspace, or pass --app DIR; the configurations run relay "
        "from the workspace folder.\n"
    )
    (tmp_path / "cdk.json").write_text("{}")
    (tmp_path / ".vscode" / "launch.json").unlink()
    assert init_vscode(tmp_path) == 0
    assert "cdk.json" not in capsys.readouterr().out


def test_a_parse_error_names_the_file(tmp_path, capsys):
    launch = tmp_path / ".vscode" / "launch.json"
    launch.parent.mkdir()
    launch.write_text('{"configurations": [ {"name": "x",, } ]}')
    assert init_vscode(tmp_path) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"relay: error: {launch} is not a launch file relay can merge into: ")
    assert "<string>" not in err and f"{launch}:1" in err
