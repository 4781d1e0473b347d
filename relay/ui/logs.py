"""relay's own log records, configured once per process: through the live view while
``relay start`` shows one, to stderr otherwise.

Without this, Python's last-resort handler printed warnings past the live view (between
its lines, unstyled) and dropped every ``log.info`` line.
"""

from __future__ import annotations

import logging
import sys
from typing import Protocol

#: Loggers of relay's modules are all under this one.
ROOT = "relay"
#: Chatty libraries relay runs (moto's request log on every emulated AWS call).
_QUIET = {"werkzeug": logging.ERROR}


class StatusView(Protocol):
    """What the handler needs of a view (``relay.ui.live_view.LiveView`` has it)."""

    def info(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...
    def error(self, message: str) -> None: ...


class ViewHandler(logging.Handler):
    """Log records as the view's status lines, at their level."""

    def __init__(self, view: StatusView) -> None:
        super().__init__()
        self.view = view

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            if record.levelno >= logging.ERROR:
                self.view.error(message)
            elif record.levelno >= logging.WARNING:
                self.view.warn(message)
            else:
                self.view.info(message)
        except Exception:  # a broken view must not break the code that logged
            self.handleError(record)


def configure_logging(view: StatusView | None = None, *, verbose: bool = False) -> None:
    """Send relay's records to ``view`` (or stderr), INFO and up (DEBUG when ``verbose``).

    Called again (e.g. once ``relay start`` has its view), it replaces the handler.
    """
    logger = logging.getLogger(ROOT)
    for old in list(logger.handlers):
        logger.removeHandler(old)
    handler: logging.Handler
    if view is not None:
        handler = ViewHandler(view)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("relay: %(message)s"))
    handler.addFilter(_strip_prefix)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    for name, level in _QUIET.items():
        logging.getLogger(name).setLevel(level)


def _strip_prefix(record: logging.LogRecord) -> bool:
    """Messages written as ``relay: ...`` are not prefixed twice."""
    if isinstance(record.msg, str) and record.msg.startswith("relay: "):
        record.msg = record.msg.removeprefix("relay: ")
    return True
