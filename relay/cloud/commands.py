"""``relay synth``, ``relay deploy`` and ``relay remove``: real AWS through the AWS CDK
toolkit (relay/cloud/cdk_cli.py), never a home-made CloudFormation deployer."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from relay import session
from relay.cloud import preflight, synth
from relay.cloud.aws_checks import (
    aws_caller,
    aws_errors,
    aws_identity,
    require_bootstrap,
    require_stage_dependent_names,
    stack_outputs,
)
from relay.cloud.cdk_cli import DeployError, run_cdk
from relay.cloud.go_live import (
    live_targets,
    stage_path,
    stub_asset_dir,
    synthesize_debug_stack,
    synthesize_live,
)


def _echo(line: str) -> None:
    print(line, file=sys.stderr)


def synth_command(stage: str, project: Path) -> int:
    """``relay synth``: the debug stack's assembly, then the app's live-mode assembly (the
    last line on stdout): everything relay deploys, to review, lint or cdk-nag beforehand.

    With credentials and a deployed debug stack the stubs point at it; otherwise at
    placeholders the emulator replaces (said on stderr).
    """
    from relay.cdk.debug_stack import CLIENT_PRINCIPAL_ENV
    from relay.cdk.live import LiveConfig, LiveTargets
    from relay.emulator.credentials import local_principal_arn

    project = Path(project).resolve()
    targets = None
    env: dict[str, str] = {}
    principal = local_principal_arn("123456789012")  # the emulator's developer, as a stand-in
    try:
        account, region, principal = aws_caller()
        from relay.cdk.debug_stack import debug_stack_name

        outputs = stack_outputs(debug_stack_name(stage), region)
        if outputs:
            targets = live_targets(stage, outputs)
            env = {"CDK_DEFAULT_ACCOUNT": account, "CDK_DEFAULT_REGION": region}
    except Exception as exc:  # no account is fine for synth: placeholders instead
        _echo(f"relay: no deployed debug stack used ({str(exc).splitlines()[0]})")
    if targets is None:
        _echo("relay: stubs point at placeholders (the emulator fills them in)")
        targets = LiveTargets.placeholders(stage)
    stub = stub_asset_dir()
    live = LiveConfig(stage=stage, stub_dir=str(stub), targets=targets)
    try:
        debug = synth.synthesize_debug(
            project, stage, stub_dir=stub, out_dir=stage_path(project, stage, "cdk.out.debug"),
            env={**env, CLIENT_PRINCIPAL_ENV: principal},
        )  # fmt: skip
        if env:  # stubs for the deployed debug stack: the assembly AWS would get
            assembly = synthesize_live(project, stage, live, env, lambda m: _echo(f"relay: {m}"))
        else:
            out = stage_path(project, stage, "cdk.out.live")
            assembly = synth.synthesize(project, stage, out_dir=out, live=live, env=env)
        records = synth.write_functions(project, stage, assembly)
    except synth.SynthError as exc:
        _echo(f"relay: {exc}")
        return 1
    for record in records:
        if not record["relayed"]:
            _echo(f"relay: not relayed: {record['path']} ({record['reason']})")
        for warning in record.get("warnings") or []:
            _echo(f"relay: warning: {record['path']}: {warning}")
    print(debug.directory)
    print(assembly.directory)
    return 0


def deploy_command(stage: str, project: Path) -> int:
    """``relay deploy``: the real code back (a full deploy, no hotswap: no drift is left)."""
    project = Path(project).resolve()
    try:
        account, region = aws_identity()
        env = {"CDK_DEFAULT_ACCOUNT": account, "CDK_DEFAULT_REGION": region}
        with aws_errors(f"deploying the real code of stage {stage}"):
            assembly = synth.synthesize(
                project, stage, out_dir=stage_path(project, stage, "cdk.out.real"), env=env
            )
            require_bootstrap(preflight.stack_targets(assembly, account, region), account)
            run_cdk(
                ["deploy", "--app", str(assembly.directory), "--all", "--require-approval",
                 "never"],
                project, env=env, progress=_echo,
            )  # fmt: skip
    except (DeployError, synth.SynthError) as exc:
        _echo(f"relay: {exc}")
        return 1
    _echo(f"relay: stage {stage} runs its real code again (the debug stack stays; "
          f"`relay remove --stage {stage}` deletes it)")  # fmt: skip
    return 0


def remove_command(stage: str, project: Path, all_stacks: bool = False) -> int:
    """``relay remove``: the debug stack, and with ``--all`` the stage's own stacks."""
    from relay.cdk.debug_stack import debug_stack_name

    project = Path(project).resolve()
    try:
        account, region, principal = aws_caller()
        env = {"CDK_DEFAULT_ACCOUNT": account, "CDK_DEFAULT_REGION": region}
        with aws_errors(f"removing stage {stage}"):
            if all_stacks:
                app = synth.synthesize(
                    project, stage, out_dir=stage_path(project, stage, "cdk.out.real"), env=env
                )
                require_stage_dependent_names(project, stage, app, env)  # never shared stacks
                run_cdk(["destroy", "--app", str(app.directory), "--all", "--force"], project,
                        env=env, progress=_echo)  # fmt: skip
            debug = synthesize_debug_stack(stage, project, account, region, principal)
            run_cdk(
                ["destroy", "--app", str(debug.directory), debug_stack_name(stage), "--force"],
                project, env=env, progress=_echo,
            )  # fmt: skip
            _delete_log_groups(f"/aws/lambda/{debug_stack_name(stage)}-", region)
    except (DeployError, synth.SynthError) as exc:
        _echo(f"relay: {exc}")
        return 1
    shutil.rmtree(session.stage_dir(project, stage), ignore_errors=True)
    if not all_stacks:
        _echo(
            f"relay: removed the debug stack of {stage}. If the app is still live its "
            f"functions run the stub: `relay deploy --stage {stage}` puts the real code back."
        )
    return 0


def _delete_log_groups(prefix: str, region: str) -> None:
    """Lambda creates its functions' log groups itself; the debug stack's ones (the
    auto-delete provider's) outlive the stack unless relay deletes them."""
    import boto3

    logs = boto3.client("logs", region_name=region)
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=prefix):
        for group in page.get("logGroups", []):
            logs.delete_log_group(logGroupName=group["logGroupName"])
            _echo(f"relay: deleted log group {group['logGroupName']}")
