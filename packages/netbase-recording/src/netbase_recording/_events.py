"""What a recording holds: connections, each an ordered list of events.

Events are frozen dataclasses, one class per kind, so that a recording can be
inspected (`[e for e in conn.events if isinstance(e, Read)]`), compared and
written to a cassette. Times are seconds relative to the start of the
connection (`Connection.started` is relative to the start of the recording).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import netbase
from netbase.lowlevel import format_address

__all__ = [
    "Close",
    "Connected",
    "Connection",
    "EndOfStream",
    "Event",
    "Failed",
    "Read",
    "Readable",
    "Recording",
    "StartTLS",
    "TLSInfo",
    "Write",
]

# The exceptions a recording keeps and a replay raises, most specific first.
ERRORS: dict[str, type[netbase.NetworkError]] = {
    cls.__name__: cls
    for cls in (
        netbase.ConnectTimeout,
        netbase.ReadTimeout,
        netbase.WriteTimeout,
        netbase.TimeoutError,
        netbase.ConnectError,
        netbase.ReadError,
        netbase.WriteError,
        netbase.NetworkError,
    )
}


def error_name(exc: BaseException) -> str:
    """The netbase class an exception is recorded as (its nearest netbase base)."""
    for cls in type(exc).__mro__:
        if cls.__name__ in ERRORS and ERRORS[cls.__name__] is cls:
            return cls.__name__
    return "NetworkError"


@dataclass(frozen=True)
class TLSInfo:
    """What the TLS handshake settled, as `ssl.SSLObject` reports it."""

    version: str | None = None
    cipher: tuple[str, str, int] | None = None
    alpn: str | None = None
    peercert: dict[str, Any] | None = None


@dataclass(frozen=True)
class Connected:
    """The connection opened; the addresses `get_extra_info` gave."""

    time: float
    client_addr: Any = None
    server_addr: Any = None


@dataclass(frozen=True)
class Write:
    """Bytes written."""

    time: float
    data: bytes


@dataclass(frozen=True)
class Read:
    """Bytes one `read()` returned (chunk boundaries are kept)."""

    time: float
    data: bytes


@dataclass(frozen=True)
class EndOfStream:
    """A `read()` returned `b""`."""

    time: float


@dataclass(frozen=True)
class StartTLS:
    """`start_tls(hostname=...)`; `tls` is what the handshake settled (None if it failed)."""

    time: float
    hostname: str | None
    tls: TLSInfo | None = None


@dataclass(frozen=True)
class Readable:
    """`get_extra_info("is_readable")` answered `value`."""

    time: float
    value: bool


@dataclass(frozen=True)
class Failed:
    """An operation (connect, read, write, start_tls) raised a netbase error."""

    time: float
    operation: str
    error: str
    message: str

    def exception(self) -> netbase.NetworkError:
        """A new exception like the one recorded."""
        return ERRORS.get(self.error, netbase.NetworkError)(self.message)


@dataclass(frozen=True)
class Close:
    """`close()`."""

    time: float


Event = Connected | Write | Read | EndOfStream | StartTLS | Readable | Failed | Close


@dataclass
class Connection:
    """One connection: where it went and what happened on it, in order.

    `host`/`port` for TCP, `path` for a UNIX socket.
    """

    host: str | None = None
    port: int | None = None
    path: str | None = None
    started: float = 0.0
    events: list[Event] = field(default_factory=list)

    @property
    def target(self) -> str:
        """`host:port` (`[::1]:80` for IPv6) or `unix:PATH`."""
        if self.path is not None:
            return f"unix:{self.path}"
        assert self.host is not None
        assert self.port is not None
        return format_address(self.host, self.port)

    @property
    def written(self) -> bytes:
        """Every byte written, in order."""
        return b"".join(e.data for e in self.events if isinstance(e, Write))

    @property
    def received(self) -> bytes:
        """Every byte read, in order."""
        return b"".join(e.data for e in self.events if isinstance(e, Read))

    @property
    def tls_hostnames(self) -> list[str | None]:
        """The hostname of each `start_tls` (two for TLS inside TLS)."""
        return [e.hostname for e in self.events if isinstance(e, StartTLS)]


class Recording:
    """The connections a recording backend saw, in the order they were opened.

    Appending is thread safe: connections made from several threads or tasks
    each keep their own ordered events.
    """

    def __init__(self, connections: list[Connection] | None = None) -> None:
        self.connections: list[Connection] = list(connections or [])
        self._lock = threading.Lock()
        self._t0 = time.monotonic()
        self._opened = len(self.connections)  # connects started, in order
        self._last_kept = self._opened
        self._order: dict[int, int] = {}  # id(connection) -> when its connect started

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Recording):
            return NotImplemented
        return self.connections == other.connections

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Recording [{len(self.connections)} connection(s)]>"

    # -- used by the recording streams -------------------------------------

    def open(self, host: str | None, port: int | None, path: str | None = None) -> Tape:
        """Start a new connection and return the tape its events go on.

        The connection joins `connections` only when `Tape.keep`
        says so: once connected, or once the connect failed with a network
        error. A connect that never happened (bad arguments) or was cancelled
        leaves no trace, so a replay never demands it.
        """
        now = time.monotonic()
        connection = Connection(host, port, path, started=round(now - self._t0, 3))
        with self._lock:
            self._opened += 1
            order = self._opened
        return Tape(connection, self, order, now)

    def _keep(self, connection: Connection, order: int) -> None:
        """Add `connection` where its connect started, among those kept already."""
        with self._lock:
            self._order[id(connection)] = order
            if order > self._last_kept:
                self._last_kept = order
                self.connections.append(connection)
                return
            # A connect that started earlier finished later (concurrent code).
            i = len(self.connections)
            while i > 0 and self._order.get(id(self.connections[i - 1]), 0) > order:
                i -= 1
            self.connections.insert(i, connection)


class Tape:
    """Appends one connection's events with their times."""

    __slots__ = ("_kept", "_order", "_recording", "_t0", "connection")

    def __init__(self, connection: Connection, recording: Recording, order: int, t0: float) -> None:
        self.connection = connection
        self._recording = recording
        self._order = order
        self._t0 = t0
        self._kept = False

    def now(self) -> float:
        """Seconds since the connection started, to the millisecond."""
        return round(time.monotonic() - self._t0, 3)

    def keep(self) -> None:
        """The connection happened (connected, or failed on the network): record it."""
        if not self._kept:
            self._kept = True
            self._recording._keep(self.connection, self._order)

    def add(self, event: Event) -> None:
        """Append `event` (under the recording's lock, so threads never interleave badly)."""
        with self._recording._lock:
            self.connection.events.append(event)
