"""What the console keeps and shows: rows, function standing, observed differences."""

from __future__ import annotations

import json

from relay.observe.invocations import InvocationContext, InvocationEvent
from relay.ui.console.state import KEEP, ConsoleState, observed_differences

CONTEXT = InvocationContext(function_name="shop-Charge", function_path="shop/Charge")


def _done(n: int, status: str = "ok", **extra: object) -> InvocationEvent:
    return InvocationEvent(
        "shop-Charge", f"r{n}", f"i{n}", status, 1.5, context=CONTEXT,
        payload=b'{"headers": {"Authorization": "Bearer s3cret"}, "amount": 1}',
        result=b'{"ok": true}', cold=n == 0, **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def test_rows_follow_an_invocation_from_running_to_done_and_old_ones_fall_off() -> None:
    state = ConsoleState({"shop-Charge": "shop/Charge"})
    running = state.add(InvocationEvent("shop-Charge", "r0", "i0", "running", at=100.0))
    assert (running["status"], running["path"], running["trigger"]) == (
        "running",
        "shop/Charge",
        "",
    )
    done = state.add(_done(0))
    assert (done["status"], done["at"], done["cold"], done["trigger"]) == (
        "ok",
        100.0,
        True,
        "invoke",
    )
    for n in range(1, KEEP + 5):
        state.add(_done(n))
    assert len(state.invocations) == KEEP and "i0" not in state.invocations


def test_standing_counts_calls_and_keeps_the_last_error() -> None:
    state = ConsoleState({"shop-Charge": "shop/Charge"})
    state.add(_done(1))
    state.add(_done(2, "error", error_type="ValueError", error_message="amount must be positive"))
    [standing] = state.standings({"shop-Charge": 3})
    assert standing == {
        "name": "shop-Charge", "path": "shop/Charge", "invocations": 2, "errors": 1,
        "reloads": 3, "last_error": "ValueError: amount must be positive",
    }  # fmt: skip


def test_detail_masks_secret_headers_like_recordings() -> None:
    state = ConsoleState({}, redact_paths=["amount"])
    state.add(_done(1))
    detail = state.detail("i1")
    assert detail is not None
    assert json.loads(detail["event"]) == {"headers": {"Authorization": "***"}, "amount": "***"}
    assert state.detail("missing") is None


def test_observed_differences_compare_answers_or_what_failed() -> None:
    same = _done(1, cloud_result=b'{"ok": true}', cloud_error=False)
    assert observed_differences(same) == []
    changed = _done(2, cloud_result=b'{"ok": false}', cloud_error=False)
    assert observed_differences(changed) == ["ok: false != true"]
    local_failed = _done(3, "error", cloud_result=b'{"ok": true}', cloud_error=False)
    assert observed_differences(local_failed) == ["status: ok != error"]
    both_failed = InvocationEvent(
        "f", "r", "i", "error", 1.0,
        result=b'{"errorType": "E", "errorMessage": "m", "requestId": "a", "stackTrace": ["x"]}',
        cloud_result=b'{"errorType": "E", "errorMessage": "m", "requestId": "b"}',
        cloud_error=True,
    )  # fmt: skip
    assert observed_differences(both_failed) == []
