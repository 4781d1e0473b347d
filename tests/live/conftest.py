"""The live tests' pass/fail table: one line a step, printed at the end of the run."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

_ROWS: list[tuple[str, str, float]] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)  # the steps read rep_call to chain
    if "live" not in item.nodeid.split("/"):
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        result = "PASS" if report.passed else "SKIP" if report.skipped else "FAIL"
        _ROWS.append((item.name.removeprefix("test_"), result, report.duration))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _ROWS:
        return
    width = max(len(name) for name, _, _ in _ROWS)
    terminalreporter.section("relay live: the whole loop on AWS")
    terminalreporter.write_line(f"{'step':<{width}}  result  seconds")
    for name, result, seconds in _ROWS:
        step = name.replace("_", " ")
        terminalreporter.write_line(f"{step:<{width}}  {result:<6}  {seconds:7.1f}")
    passed = sum(1 for _, result, _ in _ROWS if result == "PASS")
    terminalreporter.write_line(f"{passed} of {len(_ROWS)} steps passed")
