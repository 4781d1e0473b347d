"""Provisioning: a stage in the emulator from the synthesized templates.

The emulator consumes the very templates real AWS would get (debug stack + the app in live
mode), so ``relay start --local`` exercises the same swapping. This module synthesizes both
(cached) and hands them to ``relay.emulator.resources``, which creates what they describe.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from relay.cloud import synth
from relay.emulator.credentials import local_principal_arn
from relay.emulator.resources import (
    Provisioned,
    ProvisionError,
    StageResources,
)

__all__ = ["ProvisionError", "Provisioned", "provision"]


def provision(
    emulator: Any,
    *,
    project: Path,
    stage: str,
    increase_timeout: bool = False,
    stub_dir: Path | None = None,
    layer_dirs: dict[str, Path] | None = None,
) -> Provisioned:
    """Synthesize (cached) the debug stack and the app in live mode; create both in ``emulator``.

    ``stub_dir`` defaults to the stub asset (``relay.cloud.stub_asset.build_stub_asset()``).
    """
    from relay.cdk.live_config import LiveConfig, LiveTargets  # CDK-free: no jsii start here

    project = Path(project).resolve()
    if stub_dir is None:
        from relay.cloud.stub_asset import build_stub_asset

        stub_dir = build_stub_asset()
    stage_dir = project / ".relay" / "stages" / stage
    region = getattr(emulator, "region", "us-east-1")
    account = getattr(emulator, "account_id", "123456789012")
    env = {"CDK_DEFAULT_REGION": region, "CDK_DEFAULT_ACCOUNT": account}
    # Only the local developer pair may connect as the stage's client, as on AWS only the
    # developer who ran `relay start` may.
    owner = {"RELAY_CLIENT_PRINCIPAL": local_principal_arn(account)}
    placeholders = LiveTargets.placeholders(stage)
    live = LiveConfig(
        stage=stage, stub_dir=str(stub_dir), targets=placeholders,
        increase_timeout=increase_timeout,
    )  # fmt: skip
    # The two syntheses are independent processes (each starts its own jsii Node): side by
    # side a first start takes about as long as the slower one instead of both.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay-synth") as pool:
        debug_synth = pool.submit(
            synth.synthesize_debug,
            project, stage, stub_dir=Path(stub_dir), out_dir=stage_dir / "cdk.out.debug-local",
            env={**env, **owner}, validation=False,
        )  # fmt: skip
        try:
            app = synth.synthesize(
                project, stage, out_dir=stage_dir / "cdk.out.local", live=live, env=env,
                validation=False,
            )  # fmt: skip
            debug = debug_synth.result()
            records = synth.write_functions(project, stage, app)
        except synth.SynthError as exc:
            raise ProvisionError(str(exc)) from None
    provisioner = StageResources(emulator, stage, region, account, placeholders)
    provisioner.layer_dirs = dict(layer_dirs or {})
    return provisioner.create(debug, app, records)
