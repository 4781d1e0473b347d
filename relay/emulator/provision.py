"""Provisioning: a stage in the emulator from the synthesized templates.

The emulator consumes the very templates real AWS would get (debug stack + the app in live
mode), so ``relay start --local`` exercises the same swapping. This module synthesizes both
(cached) and hands them to ``relay.emulator.resources``, which creates what they describe.
The two steps are apart (``synthesize`` needs no emulator) so that a start can run the
synthesis while the emulator (moto's import and server) starts.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relay.cloud import synth
from relay.cloud.assembly import Assembly
from relay.emulator.credentials import local_principal_arn
from relay.emulator.resources import (
    Provisioned,
    ProvisionError,
    StageResources,
)

__all__ = ["ProvisionError", "Provisioned", "Synthesized", "create", "provision", "synthesize"]

#: The emulator's defaults (relay.emulator.Emulator): synthesis needs them before it starts.
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"


@dataclass(frozen=True)
class Synthesized:
    """Both assemblies of a stage and the app's function records, ready to be created."""

    stage: str
    region: str
    account: str
    debug: Assembly | None  # None: relay start's direct mode (no stub, no WebSocket client)
    app: Assembly
    records: list[dict[str, Any]]


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
    synthesized = synthesize(
        project=project, stage=stage, increase_timeout=increase_timeout, stub_dir=stub_dir,
        region=getattr(emulator, "region", DEFAULT_REGION),
        account=getattr(emulator, "account_id", DEFAULT_ACCOUNT),
    )  # fmt: skip
    return create(emulator, synthesized, layer_dirs=layer_dirs)


def synthesize(
    *,
    project: Path,
    stage: str,
    region: str = DEFAULT_REGION,
    account: str = DEFAULT_ACCOUNT,
    increase_timeout: bool = False,
    stub_dir: Path | None = None,
    debug_stack: bool = True,
) -> Synthesized:
    """Both syntheses (cached); needs no emulator, so it can run while one starts.

    ``debug_stack=False`` (relay start's direct mode, where no invocation reaches a stub):
    the app only. The debug stack's assembly is shared by every app, but keyed by relay's own
    files: the first start after installing or upgrading relay would synthesize it beside the
    app (two jsii processes on the machine's cores) for nothing.
    """
    from relay.cdk.live_config import LiveConfig, LiveTargets  # CDK-free: no jsii start here

    project = Path(project).resolve()
    if stub_dir is None:
        from relay.cloud.stub_asset import build_stub_asset

        stub_dir = build_stub_asset()
    stage_dir = project / ".relay" / "stages" / stage
    env = {"CDK_DEFAULT_REGION": region, "CDK_DEFAULT_ACCOUNT": account}
    # Only the local developer pair may connect as the stage's client, as on AWS only the
    # developer who ran `relay start` may.
    owner = {"RELAY_CLIENT_PRINCIPAL": local_principal_arn(account)}
    live = LiveConfig(
        stage=stage, stub_dir=str(stub_dir), targets=LiveTargets.placeholders(stage),
        increase_timeout=increase_timeout,
    )  # fmt: skip
    # The two syntheses are independent processes (each starts its own jsii Node): side by
    # side a first start takes about as long as the slower one instead of both.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay-synth") as pool:
        debug_synth = None
        if debug_stack:
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
            debug = debug_synth.result() if debug_synth is not None else None
            records = synth.write_functions(project, stage, app)
        except synth.SynthError as exc:
            raise ProvisionError(str(exc)) from None
    return Synthesized(stage, region, account, debug, app, records)


def create(
    emulator: Any,
    synthesized: Synthesized,
    *,
    layer_dirs: dict[str, Path] | None = None,
) -> Provisioned:
    """What both assemblies describe, created in the (started) ``emulator``.

    Without the debug stack (``synthesize(debug_stack=False)``, relay start's direct mode)
    there is no WebSocket API, table or bucket: only the stub and the WebSocket client use
    them, and the result's names for them are empty.
    """
    from relay.cdk.live_config import LiveTargets

    region = getattr(emulator, "region", DEFAULT_REGION)
    account = getattr(emulator, "account_id", DEFAULT_ACCOUNT)
    if (region, account) != (synthesized.region, synthesized.account):
        raise ProvisionError(
            f"synthesized for {synthesized.account}/{synthesized.region}, but the emulator "
            f"serves {account}/{region}; synthesize for the emulator's region and account"
        )
    placeholders = LiveTargets.placeholders(synthesized.stage)
    provisioner = StageResources(emulator, synthesized.stage, region, account, placeholders)
    provisioner.layer_dirs = dict(layer_dirs or {})
    return provisioner.create(synthesized.debug, synthesized.app, synthesized.records)
