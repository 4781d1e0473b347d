"""In-process CDK apps shared by the relay.cdk tests (importing aws_cdk costs ~4 s once).

Built-in CloudFormation validation is off (~4.3 s a synth here); cdk-nag runs where a test
asks for it and cfn-lint checks the templates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

aws_cdk = pytest.importorskip("aws_cdk")

from cdk_support import TARGETS, synth_with, user_stack  # noqa: E402

from relay.cdk.live import LiveConfig  # noqa: E402


@pytest.fixture(scope="session")
def stub_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real stub asset when it is built, else a folder with its two handlers."""
    try:
        from relay.cloud.stub_asset import build_stub_asset

        return build_stub_asset(tmp_path_factory.mktemp("stub-cache"))
    except ImportError:
        folder = tmp_path_factory.mktemp("stub")
        for name in ("stub.py", "connect.py"):
            (folder / name).write_text("def handler(event, context):\n    return None\n")
        return folder


@pytest.fixture(scope="session")
def live_app(tmp_path_factory: pytest.TempPathFactory, stub_dir: Path) -> dict[str, Any]:
    config = LiveConfig(stage="alice", stub_dir=str(stub_dir), targets=TARGETS)
    outdir = tmp_path_factory.mktemp("live")
    _, (stack, _aspect), _ = synth_with(outdir, user_stack, config)
    template = json.loads((outdir / "shop-alice.template.json").read_text())
    record = json.loads((outdir / "relay-live.json").read_text())
    return {"template": template, "record": record, "stack": stack, "outdir": outdir}


@pytest.fixture(scope="session")
def timeout_app(tmp_path_factory: pytest.TempPathFactory, stub_dir: Path) -> dict[str, Any]:
    config = LiveConfig(
        stage="alice", stub_dir=str(stub_dir), targets=TARGETS, increase_timeout=True
    )
    outdir = tmp_path_factory.mktemp("live-timeout")
    synth_with(outdir, user_stack, config)
    return {
        "template": json.loads((outdir / "shop-alice.template.json").read_text()),
        "record": json.loads((outdir / "relay-live.json").read_text()),
    }
