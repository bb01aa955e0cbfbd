"""Echo traffic as the docs show it: `>>> ` for bytes written, `<<< ` for bytes read."""

from __future__ import annotations

import logging
import threading
from typing import TextIO

from netbase_recording._escape import escape, split_lines

__all__ = ["Echo"]

logger = logging.getLogger("netbase_recording")


class Echo:
    r"""Writes each chunk line by line to a text stream, one `write()` per chunk.

    Line ends (`\r\n` or `\n`) end the printed line; any other byte that
    is not text is shown escaped (`\x00`), so binary bodies never garble the
    terminal. Each chunk is flushed, so piped output shows traffic as it goes.

    The echo never changes what the code under test gets: when the text
    stream fails (closed, a broken pipe as in `python app.py | head`, an
    encoding that cannot show a character), the failure is logged once as a
    warning on the `netbase_recording` logger, kept in `error`, and the echo
    stops. The read or write it was echoing returns as if there were no echo.
    """

    def __init__(self, stream: TextIO) -> None:
        if not callable(getattr(stream, "write", None)):
            raise TypeError(
                f"echo takes a text stream (with .write()), not {type(stream).__name__}"
            )
        self._stream = stream
        self._lock = threading.Lock()
        self.error: Exception | None = None

    def chunk(self, prefix: str, data: bytes) -> None:
        """Echo `data` with `prefix` (`">>> "` or `"<<< "`) on every line."""
        if self.stopped():
            return
        lines = []
        for line in split_lines(data):
            if line.endswith(b"\r\n"):
                line = line[:-2]
            elif line.endswith(b"\n"):
                line = line[:-1]
            lines.append(f"{prefix}{escape(line)}\n")
        with self._lock:  # one chunk's lines stay together across threads
            if self.stopped():  # another thread's echo failed meanwhile
                return
            try:
                self._stream.write("".join(lines))
                flush = getattr(self._stream, "flush", None)
                if flush is not None:
                    flush()
            except Exception as exc:  # any failure of the echo: never the caller's problem
                self.error = exc
                logger.warning(
                    "netbase-recording: the echo stream failed (%s: %s); echo stopped, "
                    "recording goes on",
                    type(exc).__name__,
                    exc,
                )

    def stopped(self) -> bool:
        """Whether the echo failed and stopped."""
        return self.error is not None

    def written(self, data: bytes) -> None:
        """Echo bytes written."""
        self.chunk(">>> ", data)

    def read(self, data: bytes) -> None:
        """Echo bytes read."""
        self.chunk("<<< ", data)
