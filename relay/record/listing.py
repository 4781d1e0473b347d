"""`relay events`: the stage's recorded invocations, newest last, as a table."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from relay.record.store import EventStore, events_dir


def events_command(
    *, project: Path, stage: str, function: str | None, errors: bool, limit: int
) -> int:
    store = EventStore(events_dir(project, stage))
    rows = []
    for _, record in store.records():
        fn = record.get("function") or {}
        names = (fn.get("name"), fn.get("function_path"), (fn.get("function_path") or "")
                 .rsplit("/", 1)[-1])  # fmt: skip
        if function and function not in names:
            continue
        if errors and record.get("status") == "ok":
            continue
        rows.append(record)
    if not rows:
        what = " matching" if function or errors else ""
        print(
            f"relay: no{what} recorded invocations for stage '{stage}' in {store.folder}; "
            f"they are recorded while `relay start --stage {stage}` runs",
            file=sys.stderr,
        )
        return 0
    table = Table(box=None, pad_edge=False)
    for column in ("id", "time", "function", "trigger", "status", "ms", "start"):
        table.add_column(column, justify="right" if column == "ms" else "left")
    for record in rows[-limit:] if limit > 0 else rows:
        fn = record.get("function") or {}
        status = record.get("status", "")
        if status == "error" and record.get("error"):
            status = f"error {record['error'].get('type') or ''}".strip()
        duration = record.get("duration_ms")
        table.add_row(
            record.get("id", ""),
            (record.get("time") or "")[:19].replace("T", " "),
            fn.get("function_path") or fn.get("name", ""),
            record.get("trigger") or "",
            status,
            f"{duration:.1f}" if isinstance(duration, int | float) else "",
            {True: "cold", False: "warm"}.get(record.get("cold"), ""),  # type: ignore[arg-type]
        )
    Console(highlight=False, width=None if sys.stdout.isatty() else 160).print(table)
    return 0
