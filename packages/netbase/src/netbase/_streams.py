"""Pieces every socket-based stream shares, whatever its runtime.

The three built-in streams are parallel in shape; what they would otherwise
each write again lives here: the checks on a socket handed in by the user,
the address keys of `get_extra_info`, a non-blocking readability probe, the
contract's repr, and `StreamBase`: the stream's state (open, broken,
closed), the mapping of a native failure to the contract's error, the
read-ahead kept by `is_readable`, `get_extra_info` and the opening checks of
`start_tls`. What waits (reading, writing, handshaking, closing) stays each
runtime's own.
"""

from __future__ import annotations

import select
import socket
import ssl
from typing import Any

from netbase._addresses import host_port
from netbase._exceptions import (
    ConnectError,
    ConnectTimeout,
    NetworkError,
    ReadError,
    ReadTimeout,
    WriteError,
    WriteTimeout,
)
from netbase._listeners import start_tls_args


def check_stream_socket(sock: object, what: str) -> Any:
    """Check a socket given to a stream constructor (`what` names it); returns its peer.

    It must be a plain, connected `SOCK_STREAM` socket: TLS comes from
    `start_tls()`, so that every layer of it is the stream's own.
    """
    if not isinstance(sock, socket.socket):
        raise TypeError(f"{what} takes a socket.socket, not {type(sock).__name__}")
    if isinstance(sock, ssl.SSLSocket):
        raise TypeError(f"{what} takes a plain socket; call start_tls() on the stream for TLS")
    if sock.type != socket.SOCK_STREAM:
        raise ValueError(f"{what} takes a SOCK_STREAM socket")
    try:
        return sock.getpeername()
    except OSError as exc:
        raise ValueError(f"{what} takes a connected socket ({exc})") from None


def set_nodelay(sock: socket.socket) -> None:
    """TCP_NODELAY on TCP sockets (UNIX sockets have no such option)."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def address_info(sock: socket.socket, key: str) -> Any:
    """`get_extra_info("client_addr" | "server_addr")`: `(host, port)`, a UNIX path, or None."""
    try:
        if key == "client_addr":
            return host_port(sock.getsockname())
        return host_port(sock.getpeername())
    except OSError:  # closed, or the peer is gone
        return None


def poll_readable(fd: int) -> bool:
    """Whether a read on `fd` would not block (data, end of stream or an error pending)."""
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
    except (OSError, ValueError):  # closed underneath us: a read would not block
        return True
    return bool(poller.poll(0))


def stream_repr(peer: str, tls: bool, closed: bool) -> str:
    """`<NetworkStream ["127.0.0.1:443" TLS CLOSED]>`."""
    return f'<NetworkStream ["{peer}"{" TLS" if tls else ""}{" CLOSED" if closed else ""}]>'


def busy(stream: object, operation: str, by: str) -> RuntimeError:
    """The error for a second `read` (or `write`) while one is in progress.

    Raised at once, before the second call touches anything, so the first
    call and the stream carry on unharmed: trio's and anyio's streams do the
    same (`BusyResourceError`). `by` is "task" or "thread".
    """
    return RuntimeError(
        f"{operation}() called on {stream!r} while another {by} is already in "
        f"{operation}(): one reader and one writer at a time"
    )


# A stream's state. Ints, so that the hot paths test it as `if self._state:`
# (anything but OPEN refuses I/O) at the cost of the loose `_closed` flag.
OPEN = 0
"""The stream can be read, written and upgraded."""
BROKEN = 1
"""A read, a write or a handshake failed (or a write timed out): the stream
closed itself, without a closing handshake."""
CLOSED = 2
"""`close()` was called."""

# What each kind of error says: (the operation in "cannot ...", the failure's
# prefix, the timeout's message prefix). Looked up only when something failed.
_WORDS: dict[type[NetworkError], tuple[str, str, str]] = {
    ReadError: ("read", "read from", "timed out reading from"),
    WriteError: ("write", "write to", "timed out writing to"),
    ConnectError: ("start TLS", "TLS handshake with", "timed out in the TLS handshake with"),
}
_TIMEOUTS: dict[type[NetworkError], type[NetworkError]] = {
    ReadError: ReadTimeout,
    WriteError: WriteTimeout,
    ConnectError: ConnectTimeout,
}


class StreamBase:
    """What the three socket streams share; each runtime's `NetworkStream` extends it.

    It holds the stream's state (`OPEN`, `BROKEN` after a failure, `CLOSED`
    after `close()`), turns a native failure into the contract's error with
    the cause chained, keeps what `is_readable` had to read for the next
    read, and answers `get_extra_info` and the repr. The runtime's hot paths
    test the state themselves and call the error helpers only from an
    `except` clause, so the helpers cost nothing until something fails.
    """

    # What a subclass does: it sets _sock, _peer (as format_peer writes it),
    # _hostname, _tls, _state (OPEN) and _readahead (None), and provides
    # _abort() (close at once, state BROKEN unless closed already),
    # _ssl_object(), _plain_readable() and _peek_tls().

    # A few hundred bytes per idle stream matter to a pool of thousands: the
    # shared state has slots (a subclass without __slots__ adds a dict).
    __slots__ = ("_hostname", "_peer", "_readahead", "_sock", "_state", "_tls")

    _sock: Any
    _peer: str
    _hostname: str | None
    _tls: bool
    _state: int
    # What is_readable() had to read to answer: bytes, b"" for end of stream,
    # or the error a read met. The next read() returns (or raises) it first.
    _readahead: bytes | OSError | None

    # -- errors ----------------------------------------------------------------

    def _closed_error(self, kind: type[NetworkError]) -> NetworkError:
        """The error for an operation of `kind` on a stream that is not open.

        A broken stream and a closed one both say "is closed" (the contract's
        words, and the repr's `CLOSED`); a broken one also says why.
        """
        operation = _WORDS[kind][0]
        if self._state == BROKEN:
            return kind(f"cannot {operation}: {self!r} is closed (broken by an earlier failure)")
        return kind(f"cannot {operation}: {self!r} is closed")

    def _failed(self, kind: type[NetworkError], exc: BaseException) -> NetworkError:
        """Map `exc` (`OSError`, `ssl.SSLError`, a runtime's own) met by an operation of `kind`.

        The stream breaks, unless `close()` came first (from another task or
        thread, which is what woke the operation): then the error says it is
        closed. The caller raises the result `from exc`.
        """
        if self._state:
            return self._closed_error(kind)
        self._abort()
        return kind(f"{_WORDS[kind][1]} {self._peer} failed: {exc}")

    def _timed_out(self, kind: type[NetworkError]) -> NetworkError:
        """The timeout of an operation of `kind`; a write or a handshake breaks the stream.

        (After a `WriteTimeout` part of the data may have gone; after a
        handshake's, the TLS state is unusable. A `ReadTimeout` loses nothing.)
        """
        if kind is not ReadError:
            self._abort()
        return _TIMEOUTS[kind](f"{_WORDS[kind][2]} {self._peer}")

    def _abort(self) -> None:
        raise NotImplementedError

    # -- reading ---------------------------------------------------------------

    def _take_readahead(self, max_bytes: int) -> bytes:
        """Hand out what `is_readable` read ahead (or raise the error it met)."""
        readahead = self._readahead
        if isinstance(readahead, OSError):
            self._readahead = None
            raise self._failed(ReadError, readahead) from readahead
        assert readahead is not None
        data, rest = readahead[:max_bytes], readahead[max_bytes:]
        self._readahead = rest or None
        return data

    def _is_readable(self) -> bool:
        """Would a read return at once? Data, end of stream or an error pending.

        On TLS, only application data or end of stream counts: a TLS 1.3
        session ticket makes the socket readable but gives the reader nothing,
        so the answer comes from a read that does not wait (`_peek_tls()`),
        whose result is kept for the next `read()`.
        """
        if self._state or self._readahead is not None:
            return True
        if not self._tls:
            return self._plain_readable()
        peeked = self._peek_tls()
        if peeked is None:
            return False
        self._readahead = peeked
        return True

    def _plain_readable(self) -> bool:
        """Whether a read on the plain (not TLS) stream would not wait."""
        return poll_readable(self._sock.fileno())

    def _peek_tls(self) -> bytes | OSError | None:
        """Read application data without waiting: bytes, `b""` (end), the error met, or `None`."""
        raise NotImplementedError

    # -- TLS -------------------------------------------------------------------

    def _start_tls_checks(
        self, ctx: ssl.SSLContext | None, hostname: str | None, server_side: bool
    ) -> tuple[ssl.SSLContext, str | None]:
        """`start_tls`'s checks before any I/O: the arguments, then the stream's state.

        Returns the context and the hostname to use.
        """
        ctx, hostname = start_tls_args(ctx, hostname, server_side, self._hostname)
        if self._state:
            raise self._closed_error(ConnectError)
        if self._readahead is not None:
            raise ConnectError("cannot start TLS: bytes were received before the handshake")
        return ctx, hostname

    # -- information -----------------------------------------------------------

    def get_extra_info(self, key: str) -> Any:
        """`client_addr`, `server_addr`, `ssl_object`, `socket`, `is_readable`.

        Any other key gives `None`.
        """
        if key == "is_readable":
            return self._is_readable()
        if key == "ssl_object":
            return self._ssl_object()
        if key == "socket":
            return self._sock
        if key in ("client_addr", "server_addr"):
            return address_info(self._sock, key)
        return None

    def _ssl_object(self) -> Any:
        """The outermost TLS layer's `ssl.SSLObject` (or `SSLSocket`), `None` when not TLS."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return stream_repr(self._peer, self._tls, self._state != OPEN)
