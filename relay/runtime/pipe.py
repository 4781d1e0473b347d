"""The read end of a pipe from a worker, split into lines: its output, or its loaded files.

Non-blocking and drained on two occasions: when the loop sees it readable, and on demand
(before an invocation's result is returned, everything the handler wrote is in the pipe;
reading it then keeps those lines in that invocation's log). One ``os.read`` per drain when
nothing is new, which is the common case on the invocation path.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
from collections.abc import Callable

LinesSink = Callable[[list[str]], None]
_CHUNK = 65536


class LinePipe:
    """Reads ``fd`` (made non-blocking) and hands complete lines to ``on_lines``.

    ``max_partial``: an unterminated line longer than this is dropped (it cannot be a record
    of the writer's). ``keep_tail``: at end of file, an unterminated last line is still a
    line (output) rather than a torn record (loaded files).
    """

    def __init__(
        self,
        fd: int,
        on_lines: LinesSink,
        *,
        keep_tail: bool,
        max_partial: int | None = None,
    ) -> None:
        self.fd = fd
        self._on_lines = on_lines
        self._keep_tail = keep_tail
        self._max_partial = max_partial
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        os.set_blocking(fd, False)
        asyncio.get_running_loop().add_reader(fd, self.drain)

    def drain(self) -> None:
        """Take in whatever the writer has written so far (closes the pipe at end of file)."""
        while self.fd >= 0:
            try:
                chunk = os.read(self.fd, _CHUNK)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self.close()
                return
            *lines, self._partial = (self._partial + self._decoder.decode(chunk)).split("\n")
            if self._max_partial is not None and len(self._partial) > self._max_partial:
                self._partial = ""
            if lines:
                self._on_lines(lines)

    def take_partial(self) -> str:
        """The unterminated line read so far (removed): it belongs to what is ending now."""
        partial, self._partial = self._partial, ""
        return partial

    def close(self) -> None:
        if self.fd < 0:
            return
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self.fd)
        os.close(self.fd)
        self.fd = -1
        tail = self._partial + self._decoder.decode(b"", final=True)
        self._partial = ""
        if tail and self._keep_tail:
            self._on_lines([tail])
