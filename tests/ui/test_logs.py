"""relay's log records reach the live view (or stderr) at their level, configured once."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from relay.ui.logs import ROOT, configure_logging


class RecordingView:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def info(self, message: str) -> None:
        self.lines.append(("info", message))

    def warn(self, message: str) -> None:
        self.lines.append(("warn", message))

    def error(self, message: str) -> None:
        self.lines.append(("error", message))


@pytest.fixture(autouse=True)
def _restore_relay_logger() -> Iterator[None]:
    logger = logging.getLogger(ROOT)
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


def test_records_become_status_lines_of_the_view_at_their_level() -> None:
    view = RecordingView()
    configure_logging(view)
    logging.getLogger("relay.client.connection").info("relay: connected to %s", "alice")
    logging.getLogger("relay.emulator").warning("emulator: refused a connection")
    logging.getLogger("relay.runtime.invocation").error("relay: the on_log callback failed")
    logging.getLogger("relay.runtime").debug("not shown without --verbose")
    assert view.lines == [
        ("info", "connected to alice"),
        ("warn", "emulator: refused a connection"),
        ("error", "the on_log callback failed"),
    ]


def test_configured_again_the_handler_is_replaced_not_added(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging()
    view = RecordingView()
    configure_logging(view)
    configure_logging(view)
    logging.getLogger("relay.client").warning("once")
    assert view.lines == [("warn", "once")]
    assert capsys.readouterr().err == ""
    assert len(logging.getLogger(ROOT).handlers) == 1


def test_without_a_view_records_go_to_stderr_prefixed_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging()
    logging.getLogger("relay.client").info("relay: retrying in %d s", 2)
    logging.getLogger("relay.client").warning("gave up")
    assert capsys.readouterr().err == "relay: retrying in 2 s\nrelay: gave up\n"
