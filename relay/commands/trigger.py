"""`relay trigger RULE`: fire one of the app's schedule rules now on the running emulator
(or, with --after, move the emulator's clock forward and fire whatever falls due)."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote


def _post(endpoint: str, token: str, path: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{endpoint}{path}", method="POST", data=b"", headers={"X-Relay-Token": token}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def trigger_command(rule: str | None, *, stage: str, project: Path, after: float | None) -> int:
    from relay.emulator.command import attach

    handle = attach(project, stage)
    if handle is None or not handle.control_endpoint:
        print(
            f"relay: no emulator serves stage '{stage}' of {project}; start one with "
            f"`relay start --local --stage {stage}` (or `relay emulator`), then trigger again.",
            file=sys.stderr,
        )
        return 2
    if after is not None:
        status, answer = _post(
            handle.control_endpoint, handle.control_token, f"/clock/advance?seconds={after}"
        )
        fired = answer.get("fired", [])
        print(
            f"relay: clock moved {after:g} s; {len(fired)} schedule firing(s)"
            + "".join(f"\n  {f['rule']} at {f['time']}" for f in fired)
        )
        return 0 if status == 200 else 1
    if not rule:
        print(
            "relay: name a rule (construct path, id or name), or pass --after SECONDS",
            file=sys.stderr,
        )
        return 2
    status, answer = _post(
        handle.control_endpoint, handle.control_token, f"/rules/{quote(rule, safe='')}/trigger"
    )
    if status != 200:
        print(f"relay: {answer.get('message', answer)}", file=sys.stderr)
        return 2
    targets = ", ".join(answer["targets"]) or "no targets"
    print(f"relay: fired {answer['path'] or answer['name']} ({answer['schedule']}) → {targets}")
    return 0
