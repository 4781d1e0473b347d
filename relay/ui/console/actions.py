"""The console's buttons: Replay (run the invocation's event again through the session's
local runtime) and Save as test (write it as a pytest case under the project's tests/)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from relay.observe.invocations import InvocationContext, InvocationEvent, finished
from relay.record.as_test import write_test
from relay.record.differences import differences
from relay.record.recording import decode_payload, to_record
from relay.record.replay import replay_config
from relay.runtime import LocalRuntime
from relay.ui.console.state import ConsoleState


class ConsoleActions:
    def __init__(
        self,
        *,
        state: ConsoleState,
        runtime: LocalRuntime,
        publish: Callable[[InvocationEvent], None],
        project: Path,
        stage: str,
        redact_paths: list[str],
    ) -> None:
        self.state = state
        self.runtime = runtime
        self.publish = publish
        self.project = project
        self.stage = stage
        self.redact_paths = redact_paths

    def as_dict(self) -> dict[str, Any]:
        return {"replay": self.replay, "save_test": self.save_test}

    def _event(self, key: str) -> InvocationEvent:
        event = self.state.invocations.get(key)
        if event is None or event.payload is None or event.context is None:
            raise LookupError(f"invocation {key} is not finished or no longer kept")
        return event

    async def replay(self, key: str) -> dict[str, Any]:
        """Run the same event again; the replay appears in the table like any invocation."""
        original = self._event(key)
        assert original.payload is not None and original.context is not None
        name = original.function
        if name not in self.runtime.functions():  # not configured in this session (yet)
            config = replay_config(to_record(original, self.stage, []))
            self.runtime.configure(config)
        request_id = str(uuid.uuid4())
        result = await self.runtime.invoke(name, original.payload, request_id=request_id)
        context: InvocationContext = original.context
        replayed = finished(
            context, request_id, f"replay-{request_id}", original.payload, result, source="replay"
        )
        self.publish(replayed)
        before, _ = decode_payload(original.result)
        after, _ = decode_payload(result.payload)
        if original.status != "ok" or result.function_error:
            keys = ("errorType", "errorMessage")
            before = {k: before.get(k) for k in keys} if isinstance(before, dict) else before
            after = {k: after.get(k) for k in keys} if isinstance(after, dict) else after
        found = differences(before, after)
        return {
            "ok": True,
            "replay": replayed.invocation_id,
            "same": not found,
            "differences": found,
        }

    async def save_test(self, key: str) -> dict[str, Any]:
        """Write the invocation as tests/test_<function>_<id>.py (never overwriting)."""
        event = self._event(key)
        record = to_record(event, self.stage, self.redact_paths)
        handler = (event.context.handler if event.context else "") or "handler"
        stem = handler.replace("/", "_").replace(".", "_").lower()
        path = self.project / "tests" / f"test_{stem}_{record['id']}.py"
        if path.exists():
            return {"ok": True, "path": str(path.relative_to(self.project)), "existed": True}
        await asyncio.to_thread(write_test, record, path)
        return {"ok": True, "path": str(path.relative_to(self.project))}
