"""While `relay start --stage S` serves AWS, watch the app's infrastructure code.

Function code reloads locally on its own; a change to the stacks needs a deploy. On a save
relay synthesizes in live mode, shows the toolkit's template diff and deploys on ENTER, so
the developer decides when CloudFormation runs.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any


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

    from relay.cloud.deploy import DeployError, apply_live, diff_live, infra_filter

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
