"""What the sync and async recording streams share: turning calls into events."""

from __future__ import annotations

from typing import Any

import netbase
from netbase_recording._echo import Echo
from netbase_recording._events import (
    Close,
    Connected,
    EndOfStream,
    Failed,
    Read,
    Readable,
    Recording,
    StartTLS,
    Tape,
    Write,
    error_name,
)
from netbase_recording._tls import capture_tls

__all__ = ["StreamTape", "open_tape"]


def open_tape(
    recording: Recording,
    echo: Echo | None,
    host: str | None,
    port: int | None,
    path: str | None = None,
) -> StreamTape:
    """A new connection in `recording`."""
    return StreamTape(recording.open(host, port, path), echo)


class StreamTape:
    """Records one stream's operations. Only netbase errors are events.

    Bad arguments (`TypeError`/`ValueError` raised before any I/O) and
    cancellation are not part of the conversation and leave no trace.
    """

    __slots__ = ("_echo", "_tape")

    def __init__(self, tape: Tape, echo: Echo | None) -> None:
        self._tape = tape
        self._echo = echo

    def connected(self, stream: Any) -> None:
        """The inner stream is open: keep its addresses."""
        self._tape.add(
            Connected(
                self._tape.now(),
                stream.get_extra_info("client_addr"),
                stream.get_extra_info("server_addr"),
            )
        )
        self._tape.keep()

    def wrote(self, data: bytes) -> None:
        """`write(data)` returned."""
        self._tape.add(Write(self._tape.now(), data))
        if self._echo is not None:
            self._echo.written(data)

    def read(self, data: bytes) -> None:
        """`read()` returned `data`."""
        if data:
            self._tape.add(Read(self._tape.now(), data))
            if self._echo is not None:
                self._echo.read(data)
        else:
            self._tape.add(EndOfStream(self._tape.now()))

    def failed(self, operation: str, exc: netbase.NetworkError) -> None:
        """`operation` raised `exc`."""
        self._tape.add(Failed(self._tape.now(), operation, error_name(exc), str(exc)))
        self._tape.keep()

    def tls(self, hostname: str | None, ssl_object: Any | None, exc: Exception | None) -> None:
        """`start_tls(hostname=...)` finished (`exc` when it failed)."""
        info = None if exc is not None else capture_tls(ssl_object)
        self._tape.add(StartTLS(self._tape.now(), hostname, info))
        if isinstance(exc, netbase.NetworkError):
            self.failed("start_tls", exc)

    def readable(self, value: Any) -> None:
        """`get_extra_info("is_readable")` answered `value`."""
        self._tape.add(Readable(self._tape.now(), bool(value)))

    def closed(self) -> None:
        """`close()` was called (the first time)."""
        self._tape.add(Close(self._tape.now()))
