"""The web console end to end in a real headless browser (Debian's chromium, driven by
Playwright): invocations made through the shop app's function URL appear live, a row opens
to its event/result/logs, Replay and Save as test work, and no request passes without the
session's token. Screenshots are kept in the test's tmp folder."""

from __future__ import annotations

import re
import shutil
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.record.shop import function_url, invoke, post

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: How long a live invocation may take to show up in the table.
APPEARS_WITHIN_MS = 3000

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (test extra)")
expect = sync_api.expect
if not Path(CHROMIUM).is_file():
    pytest.skip(
        "no chromium: `make test` installs it (apt-get install -y chromium); this machine "
        "could not",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any, shop: dict[str, Any], tmp_path: Path) -> Iterator[Any]:
    page = browser.new_page(viewport={"width": 1400, "height": 820})
    page.goto(shop["_console"])
    page.wait_for_selector("body[data-ready]", timeout=10_000)  # the first rows are in
    yield page
    page.screenshot(path=str(tmp_path / "console-last.png"))
    page.close()


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_requests_without_the_token_are_refused(shop: dict[str, Any]) -> None:
    url = shop["_console"]
    base = url.split("?", 1)[0]
    assert base.startswith("http://127.0.0.1:")
    assert _status(url) == 200
    for path in ("", "console.js", "api/invocation?id=x", "ws"):
        assert _status(base + path) == 403
        assert _status(base + path + ("&" if "?" in path else "?") + "token=wrong") == 403


def test_a_function_url_invocation_appears_and_replays(
    page: Any, shop: dict[str, Any], tmp_path: Path
) -> None:
    order = uuid.uuid4().hex[:8]
    before = page.locator("#invocations tbody tr").count()
    status, _ = post(
        function_url(shop, "Checkout"),
        {"order": order, "items": [{"qty": 3, "price": 4}], "email": "x@example.com"},
        {"Authorization": "Bearer console-planted-secret"},
    )
    assert status == 200
    # (expect, not wait_for_function: the console's CSP forbids evaluating strings)
    expect(page.locator("#invocations tbody tr")).to_have_count(
        before + 1, timeout=APPEARS_WITHIN_MS
    )
    newest = page.locator("#invocations tbody tr").first
    assert "function-url" in newest.text_content() and "Checkout" in newest.text_content()
    page.screenshot(path=str(tmp_path / "console-live.png"))

    newest.click()
    page.wait_for_selector("#detail:not([hidden])", timeout=5_000)
    expect(page.locator("#detail-event")).to_contain_text(order, timeout=5_000)
    event_text = page.text_content("#detail-event")
    assert "console-planted-secret" not in event_text  # masked as in recordings
    assert '"authorization": "***"' in event_text
    assert '\\"total\\": 12' in page.text_content("#detail-result")
    assert "checkout for 1 item(s)" in page.text_content("#detail-logs")
    assert "Checkout" in page.text_content("#detail-title")

    rows_before = page.locator("#invocations tbody tr").count()
    page.click("#replay")
    expect(page.locator("#action-result")).to_have_text(re.compile("^replayed"), timeout=15_000)
    assert page.text_content("#action-result") == "replayed: same result as this invocation"
    expect(page.locator("#invocations tbody tr")).to_have_count(rows_before + 1, timeout=5_000)
    assert "replay" in page.locator("#invocations tbody tr").first.text_content()
    page.screenshot(path=str(tmp_path / "console-replayed.png"), full_page=True)

    page.click("#save-test")
    expect(page.locator("#action-result")).to_have_text(re.compile("^saved"), timeout=15_000)
    saved = page.text_content("#action-result").removeprefix("saved: ")
    test_file = shop["_app"] / saved
    assert saved.startswith("tests/test_checkout_handler_") and test_file.is_file()
    assert "EXPECTED = " in test_file.read_text()


def test_functions_show_their_last_error(page: Any, shop: dict[str, Any]) -> None:
    answer = invoke(shop, "Charge", {"amount": -5})
    assert answer["error"] == "Unhandled"
    charge = page.locator("#functions tbody tr", has_text="Charge")
    charge.filter(has_text="amount must be positive, got -5").wait_for(timeout=APPEARS_WITHIN_MS)
    reloads = charge.locator("td").nth(2).text_content()
    assert reloads is not None and reloads.isdigit()
    failed = page.locator("#invocations tbody tr", has_text="Charge").first
    assert "error" in failed.locator("td").nth(5).text_content()
