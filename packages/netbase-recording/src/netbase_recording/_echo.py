"""Echo traffic as the docs show it: `>>> ` for bytes written, `<<< ` for bytes read."""

from __future__ import annotations

import threading
from typing import TextIO

from netbase_recording._escape import escape, split_lines

__all__ = ["Echo"]


class Echo:
    r"""Writes each chunk line by line to a text stream, one `write()` per chunk.

    Line ends (`\r\n` or `\n`) end the printed line; any other byte that
    is not text is shown escaped (`\x00`), so binary bodies never garble the
    terminal.
    """

    def __init__(self, stream: TextIO) -> None:
        if not callable(getattr(stream, "write", None)):
            raise TypeError(
                f"echo takes a text stream (with .write()), not {type(stream).__name__}"
            )
        self._stream = stream
        self._lock = threading.Lock()

    def chunk(self, prefix: str, data: bytes) -> None:
        """Echo `data` with `prefix` (`">>> "` or `"<<< "`) on every line."""
        lines = []
        for line in split_lines(data):
            if line.endswith(b"\r\n"):
                line = line[:-2]
            elif line.endswith(b"\n"):
                line = line[:-1]
            lines.append(f"{prefix}{escape(line)}\n")
        with self._lock:  # one chunk's lines stay together across threads
            self._stream.write("".join(lines))

    def written(self, data: bytes) -> None:
        """Echo bytes written."""
        self.chunk(">>> ", data)

    def read(self, data: bytes) -> None:
        """Echo bytes read."""
        self.chunk("<<< ", data)
