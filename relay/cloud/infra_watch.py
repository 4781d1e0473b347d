"""While `relay start --stage S` serves AWS, watch the app's infrastructure code.

Function code reloads locally on its own; a change to the stacks needs a deploy. On a save
relay synthesizes in live mode, shows the toolkit's template diff and deploys on ENTER, so
the developer decides when CloudFormation runs.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from relay.cloud import synth
from relay.cloud.assembly import Assembly
from relay.cloud.aws_checks import aws_identity, stack_outputs
from relay.cloud.cdk_cli import DeployError, Progress, run_cdk
from relay.cloud.go_live import live_targets, observe_settings, stub_asset_dir, synthesize_live


async def watch_infrastructure(
    stage: str,
    project: Path,
    code_dirs: list[Path],
    view: Any,
    *,
    increase_timeout: bool,
    observe: float | None = None,
) -> None:
    from watchfiles import awatch

    if not sys.stdin.isatty():
        view.info("infrastructure changes are not watched (no terminal to confirm deploys)")
        return
    async for changes in awatch(project, watch_filter=infra_filter(code_dirs)):
        names = sorted({Path(path).name for _, path in changes})
        view.info(f"infrastructure changed ({', '.join(names)}): synthesizing …")
        try:
            diff, assembly = await asyncio.to_thread(
                diff_live, stage, project, increase_timeout=increase_timeout, observe=observe
            )
        except DeployError as exc:
            view.error(f"{exc} (fix it and save again)")
            continue
        view.console.print(diff, markup=False, highlight=False)
        answer = await asyncio.to_thread(
            input, "relay: press ENTER to deploy these changes, or type 'skip': "
        )
        if answer.strip().lower() == "skip":
            view.info("not deployed; the next save shows the diff again")
            continue
        try:
            await asyncio.to_thread(apply_live, project, assembly, view.info)
        except DeployError as exc:
            view.error(str(exc))
            continue
        view.info("deployed")


def infra_filter(code_dirs: list[Path]) -> Callable[[Any, str], bool]:
    """A watchfiles filter for the app's infrastructure code (not function code or output)."""
    from watchfiles import PythonFilter

    base = PythonFilter(extra_extensions=(".json", ".yaml", ".yml", ".ts", ".js"))
    code = [Path(d).resolve() for d in code_dirs]
    skip = {".relay", "cdk.out", "node_modules", ".git", ".venv", "__pycache__"}

    def accept(change: Any, path: str) -> bool:
        p = Path(path)
        if not base(change, path) or skip & set(p.parts):
            return False
        return not any(p.is_relative_to(d) for d in code)

    return accept


def diff_live(
    stage: str, project: Path, *, increase_timeout: bool = False, observe: float | None = None
) -> tuple[str, Assembly]:
    """Synthesize the changed app in live mode and the toolkit's template diff against AWS."""
    from relay.cdk.debug_stack import debug_stack_name
    from relay.cdk.live import LiveConfig

    project = Path(project).resolve()
    account, region = aws_identity()
    outputs = stack_outputs(debug_stack_name(stage), region)
    if not outputs:
        raise DeployError(f"stage {stage} is not live: run `relay start --stage {stage}`")
    env = {"CDK_DEFAULT_ACCOUNT": account, "CDK_DEFAULT_REGION": region}
    live = LiveConfig(
        stage=stage, stub_dir=str(stub_asset_dir()), targets=live_targets(stage, outputs),
        increase_timeout=increase_timeout, **observe_settings(observe),
    )  # fmt: skip
    assembly = synthesize_live(project, stage, live, env, lambda _line: None)
    synth.write_functions(project, stage, assembly)
    text = run_cdk(["diff", "--app", str(assembly.directory), "--all"], project, env=env)
    return text, assembly


def apply_live(project: Path, assembly: Assembly, progress: Progress) -> None:
    """Deploy an assembly from :func:`diff_live` (after the developer pressed ENTER)."""
    account, region = aws_identity()
    env = {"CDK_DEFAULT_ACCOUNT": account, "CDK_DEFAULT_REGION": region}
    run_cdk(
        ["deploy", "--app", str(assembly.directory), "--all", "--require-approval", "never",
         "--hotswap-fallback"],
        Path(project), env=env, progress=progress,
    )  # fmt: skip
