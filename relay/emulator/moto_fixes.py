"""Where moto's server differs from AWS in what a handler sees, and the emulator corrects it.

S3 notifications: moto encodes "/" in object keys (`in%2Fa.csv`; S3 sends `in/a.csv`) and
leaves out `userIdentity`, `requestParameters`, `responseElements`, the bucket's
`ownerIdentity` and the object's `sequencer`. The emulator wraps moto's event builder once,
so every destination (queue, topic, function) gets AWS's record.
"""

from __future__ import annotations

from typing import Any

_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    from moto.s3 import notifications

    from relay.emulator.fronts.source_events import complete_s3_event

    original = notifications._get_s3_event

    def s3_event(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return complete_s3_event(original(*args, **kwargs))

    notifications._get_s3_event = s3_event
    _applied = True
