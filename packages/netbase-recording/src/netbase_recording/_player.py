"""Replaying one recorded connection: the logic the sync and async streams share.

Writes are matched as a byte stream: the bytes the code writes between two
other operations (a read, start_tls, close) must equal the bytes the
recording wrote there, however they are cut into `write()` calls, because
TCP chunking differs from run to run. Reads return the recorded chunks.
Nothing here waits: when the code asks for something the recording does not
have, it raises at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import netbase
from netbase_recording._escape import escape
from netbase_recording._events import (
    Close,
    Connected,
    Connection,
    EndOfStream,
    Event,
    Failed,
    Read,
    Readable,
    StartTLS,
    Write,
)
from netbase_recording._scrub import apply_scrub
from netbase_recording._tls import RecordedSSLObject

__all__ = ["Player", "ReplayError", "ReplayMismatch", "describe"]

_CONTEXT = 32  # bytes shown either side of the first difference


class ReplayError(AssertionError):
    """The code under test did not do what the recording did."""


class ReplayMismatch(ReplayError):
    """Bytes written differ from the recording; shows both around the first difference."""

    def __init__(self, where: str, expected: bytes, actual: bytes) -> None:
        offset = _first_difference(expected, actual)
        start = max(0, offset - _CONTEXT)
        before = ("..." if start else "") + escape(expected[start:offset])
        exp = before + escape(expected[offset : offset + _CONTEXT])
        act = before + escape(actual[offset : offset + _CONTEXT])
        if offset + _CONTEXT < len(expected):
            exp += "..."
        if offset + _CONTEXT < len(actual):
            act += "..."
        if offset >= len(expected):
            exp += "<end of the recorded bytes>"
        if offset >= len(actual):
            act += "<end of the bytes written>"
        caret = " " * (len("  actual:   ") + len(before)) + "^"
        super().__init__(
            f"{where}: the bytes written differ from the recording at byte {offset}\n"
            f"  expected: {exp}\n  actual:   {act}\n{caret}"
        )
        self.expected = expected
        self.actual = actual
        self.offset = offset


def _first_difference(a: bytes, b: bytes) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def describe(event: Event | None) -> str:
    """What the recording did, in words, for error messages."""
    if event is None:
        return "has nothing more on this connection"
    if isinstance(event, Write):
        return f"writes {escape(event.data[:64])!s}" + ("..." if len(event.data) > 64 else "")
    if isinstance(event, Read):
        return f"reads {len(event.data)} bytes"
    if isinstance(event, EndOfStream):
        return "reads the end of the stream"
    if isinstance(event, StartTLS):
        return f"starts TLS with hostname={event.hostname!r}"
    if isinstance(event, Failed):
        return f"fails to {event.operation} ({event.error}: {event.message})"
    if isinstance(event, Close):
        return "closes the connection"
    return type(event).__name__


class Player:
    """The replay state of one recorded connection (thread safe)."""

    def __init__(
        self, connection: Connection, number: int, scrub: Callable[[bytes], bytes] | None
    ) -> None:
        self._scrub = scrub
        self._lock = threading.Lock()
        self.closed = False
        self.tls: RecordedSSLObject | None = None
        self.problems: list[str] = []
        self.load(connection, number)

    def load(self, connection: Connection, number: int) -> None:
        """Play `connection` (recorded as number `number`) from its start."""
        self.connection = connection
        self.number = number
        self.name = f"connection {number} to {connection.target}"
        self._events = connection.events
        self._pos = 0
        self._pending = bytearray()  # bytes written in the current run
        self._leftover = b""  # the rest of a recorded read chunk not yet returned
        self._eof = False
        self.client_addr: Any = None
        self.server_addr: Any = None
        if self._events and isinstance(self._events[0], Connected):
            self.client_addr = self._events[0].client_addr
            self.server_addr = self._events[0].server_addr
            self._pos = 1

    def connect_failure(self) -> netbase.NetworkError | None:
        """The recorded connect error, if the connection failed to open."""
        event = self._peek()
        if isinstance(event, Failed) and event.operation == "connect":
            self._pos += 1
            exc = event.exception()
            if isinstance(exc, netbase.ConnectError):
                exc.host, exc.port = self.connection.host, self.connection.port
            return exc
        return None

    # -- cursor ----------------------------------------------------------------

    def _peek(self, skip_polls: bool = True) -> Event | None:
        while self._pos < len(self._events):
            event = self._events[self._pos]
            if skip_polls and isinstance(event, Readable):
                self._pos += 1
                continue
            return event
        return None

    def _run(self) -> tuple[bytes, int]:
        """The recorded bytes of the write run at the cursor, and how many events it spans."""
        end = self._pos
        while end < len(self._events) and isinstance(self._events[end], Write):
            end += 1
        data = b"".join(e.data for e in self._events[self._pos : end])  # type: ignore[union-attr]
        return data, end - self._pos

    def _norm(self, data: bytes) -> bytes:
        return apply_scrub(self._scrub, data) if self._scrub is not None else data

    def _end_run(self, action: str) -> None:
        """Before another operation: the writes so far must be the recorded run, all of it."""
        event = self._peek()
        if not self._pending and not isinstance(event, Write):
            return
        expected, count = self._run() if isinstance(event, Write) else (b"", 0)
        actual = bytes(self._pending)
        if self._norm(expected) != self._norm(actual):
            if not actual:
                raise ReplayError(
                    f"{self.name}: the code {action}, but the recording {describe(event)} first"
                )
            raise ReplayMismatch(self.name, self._norm(expected), self._norm(actual))
        self._pos += count
        self._pending.clear()

    # -- operations ------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Match `data` against the recorded byte stream."""
        with self._lock:
            if self.closed:
                raise netbase.WriteError(f"cannot write: {self.name} is closed")
            event = self._peek()
            if isinstance(event, Failed) and event.operation == "write" and not self._pending:
                self._pos += 1
                self.closed = True
                raise event.exception()
            if not isinstance(event, Write):
                raise ReplayError(
                    f"{self.name}: the code writes {escape(data[:64])}, "
                    f"but the recording {describe(event)}"
                )
            self._pending += data
            expected, count = self._run()
            if self._scrub is None:
                if not expected.startswith(self._pending):
                    raise ReplayMismatch(self.name, expected, bytes(self._pending))
                done = len(self._pending) == len(expected)
            else:  # scrubbed bytes can only be compared once the run is complete
                done = self._norm(bytes(self._pending)) == self._norm(expected)
            if done:
                self._pos += count
                self._pending.clear()

    def read(self, max_bytes: int) -> bytes:
        """The next recorded chunk (up to `max_bytes`), end of stream, or the recorded error."""
        with self._lock:
            if self.closed:
                raise netbase.ReadError(f"cannot read: {self.name} is closed")
            if self._leftover:
                data, self._leftover = self._leftover[:max_bytes], self._leftover[max_bytes:]
                return data
            self._end_run("reads")
            event = self._peek()
            if isinstance(event, Read):
                self._pos += 1
                data, self._leftover = event.data[:max_bytes], event.data[max_bytes:]
                return data
            if isinstance(event, EndOfStream):
                self._pos += 1
                self._eof = True
                return b""
            if isinstance(event, Failed) and event.operation == "read":
                self._pos += 1
                if not isinstance(event.exception(), netbase.ReadTimeout):
                    self.closed = True
                raise event.exception()
            if self._eof:
                return b""
            raise ReplayError(
                f"{self.name}: the code reads, but the recording {describe(event)}"
                + (" (it never read this far)" if event is None or isinstance(event, Close) else "")
            )

    def start_tls(self, hostname: str | None) -> None:
        """Match the recorded `start_tls` and take its TLS facts."""
        with self._lock:
            if self.closed:
                raise netbase.ConnectError(f"cannot start TLS: {self.name} is closed")
            self._end_run("starts TLS")
            event = self._peek()
            if not isinstance(event, StartTLS) or event.hostname != hostname:
                raise ReplayError(
                    f"{self.name}: the code starts TLS with hostname={hostname!r}, "
                    f"but the recording {describe(event)}"
                )
            self._pos += 1
            if event.tls is None:
                failure = self._peek()
                self.closed = True
                if isinstance(failure, Failed):
                    self._pos += 1
                    raise failure.exception()
                raise netbase.ConnectError(f"{self.name}: the TLS handshake failed")
            self.tls = RecordedSSLObject(event.tls, hostname or self.connection.host)

    def is_readable(self) -> bool:
        """The recorded answer if the recording asked here, else what the next event implies."""
        with self._lock:
            if self.closed or self._leftover or self._eof:
                return True
            if self._pos < len(self._events) and isinstance(self._events[self._pos], Readable):
                poll = self._events[self._pos]
                assert isinstance(poll, Readable)
                self._pos += 1
                return poll.value
            event = self._peek()
            return isinstance(event, (Read, EndOfStream)) or (
                isinstance(event, Failed) and event.operation == "read"
            )

    def close(self) -> None:
        """Close; problems found here are kept for `check_played()` (close never raises)."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            try:
                self._end_run("closes the connection")
            except (ReplayError, TypeError) as exc:  # TypeError: a scrub hook's bad answer
                self.problems.append(str(exc))
                return
            if isinstance(self._peek(), Close):
                self._pos += 1

    def unplayed(self) -> list[str]:
        """What the recording did on this connection that the replay did not."""
        with self._lock:
            out = list(self.problems)
            left = [e for e in self._events[self._pos :] if not isinstance(e, Readable)]
            if left:
                out.append(
                    f"{self.name}: {len(left)} recorded event(s) not played, "
                    f"starting where the recording {describe(left[0])}"
                )
            return out
