"""`NetworkStream`: the trio stream, over a stack of transports.

Every operation is a trio checkpoint, as trio's own socket methods are:
`checkpoint_if_cancelled()` first, then the non-blocking system call, then
either trio's `wait_readable`/`wait_writable` (when it must wait) or a
`cancel_shielded_checkpoint()` (when it did not). A cancellation delivered
while waiting to read loses nothing; one delivered in the middle of a write
or a handshake leaves the stream in an unknown state, so the stream is closed
and the `trio.Cancelled` goes on, unconverted.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

import trio

from netbase import (
    AsyncNetworkStreamInterface,
    ConnectError,
    ConnectTimeout,
    ReadError,
    ReadTimeout,
    WriteError,
    WriteTimeout,
)
from netbase.lowlevel import (
    DEFAULT_MAX_BYTES,
    address_info,
    build_shared_in_thread,
    check_data,
    check_max_bytes,
    check_stream_socket,
    format_peer,
    poll_readable,
    set_nodelay,
    shared_default_context_ready,
    start_tls_args,
    stream_repr,
)
from netbase.lowlevel import busy_error as busy
from netbase_trio._deadline import Expired, deadline_for
from netbase_trio._transports import RECV_CHUNK, PlainSocket, TLSLayer, Transport

__all__ = ["NetworkStream"]

_checkpoint_if_cancelled = trio.lowlevel.checkpoint_if_cancelled
_cancel_shielded_checkpoint = trio.lowlevel.cancel_shielded_checkpoint
# Raised by trio's wait_readable/wait_writable when the stream is closed (or
# read twice at once) under a waiting task.
_TRIO_ERRORS = (trio.ClosedResourceError, trio.BusyResourceError, trio.BrokenResourceError)


class NetworkStream(AsyncNetworkStreamInterface):
    """A TCP (or UNIX) stream on trio.

    Build one around a socket that is already connected with
    `await NetworkStream.from_socket(sock)`: this is how a custom backend
    that connects by itself (over a UNIX domain socket, to an address it
    resolved and cached) still gets every behaviour of the contract.
    """

    # A few hundred bytes per idle stream matter to a pool of thousands.
    __slots__ = (
        "_closed",
        "_fd",
        "_hostname",
        "_peer",
        "_readahead",
        "_reading",
        "_sock",
        "_tls",
        "_top",
        "_writing",
    )

    def __init__(self, sock: socket.socket, *, hostname: str | None = None) -> None:
        peer = check_stream_socket(sock, "NetworkStream()")
        sock.setblocking(False)  # trio waits; the system calls never block
        set_nodelay(sock)
        self._setup(sock, format_peer(peer), hostname)

    @classmethod
    def _adopt(cls, sock: socket.socket, peer: str, hostname: str | None) -> NetworkStream:
        """The backend's constructor: the socket is connected, non-blocking, its peer known."""
        stream = cls.__new__(cls)
        stream._setup(sock, peer, hostname)
        return stream

    def _setup(self, sock: socket.socket, peer: str, hostname: str | None) -> None:
        self._sock: socket.socket = sock
        self._fd = sock.fileno()
        self._peer = peer
        self._hostname = hostname
        self._top: Transport = PlainSocket(sock)
        self._tls = False
        self._closed = False
        # A read (a write) is under way: a second one at once is a caller's
        # bug, reported at once instead of breaking the stream under the first.
        self._reading = False
        self._writing = False
        # What is_readable() had to read to answer: bytes, b"" for end of
        # stream, or the error a read met. The next read() returns it first.
        self._readahead: bytes | OSError | None = None

    @classmethod
    async def from_socket(
        cls, sock: socket.socket | trio.socket.SocketType, *, hostname: str | None = None
    ) -> NetworkStream:
        """Wrap an already-connected socket (TCP or UNIX) and take ownership of it.

        `sock` is a stdlib `socket.socket` or a `trio.socket` socket
        (whose file descriptor moves into a stdlib one). `hostname` is the
        name `start_tls()` uses when given none.
        """
        if isinstance(sock, trio.socket.SocketType):
            sock = socket.socket(sock.family, sock.type, sock.proto, fileno=sock.detach())
        return cls(sock, hostname=hostname)

    # -- reading and writing -------------------------------------------------

    async def read(self, max_bytes: int | None = None) -> bytes:
        """Return 1 to `max_bytes` bytes (default 65536), or `b""` at end of stream.

        Under an active [`netbase.timeout()`][netbase.timeout] raises
        [`netbase.ReadTimeout`][netbase.ReadTimeout] when the deadline passes; the stream stays open
        and a later read returns what arrives. Other failures raise
        [`netbase.ReadError`][netbase.ReadError] and close it.
        """
        max_bytes = DEFAULT_MAX_BYTES if max_bytes is None else check_max_bytes(max_bytes)
        if self._closed:
            raise ReadError(f"cannot read: {self!r} is closed")
        if self._reading:
            raise busy(self, "read", "task")
        deadline = deadline_for(ReadTimeout)
        await _checkpoint_if_cancelled()
        if self._readahead is not None:
            data = self._take_readahead(max_bytes)
            await _cancel_shielded_checkpoint()
            return data
        top = self._top
        self._reading = True
        try:
            data_or_none = top.recv_nowait(max_bytes)
            if data_or_none is None:
                data = await top.wait_recv(max_bytes, deadline)
            else:
                data = data_or_none
                await _cancel_shielded_checkpoint()
            if self._tls and top.wants_flush():
                await top.flush(deadline)
        except Expired as exc:
            raise ReadTimeout(f"timed out reading from {self._peer}") from exc
        except (OSError, *_TRIO_ERRORS) as exc:
            if self._closed:  # closed by another task while we were reading
                raise ReadError(f"cannot read: {self!r} is closed") from exc
            self._abort()
            raise ReadError(f"read from {self._peer} failed: {exc}") from exc
        finally:
            self._reading = False
        return data

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send all of `data`.

        [`netbase.WriteTimeout`][netbase.WriteTimeout] when the deadline passes (part of the data
        may have gone, so the stream is closed), [`netbase.WriteError`][netbase.WriteError] on
        failure (also closed).
        """
        check_data(data)
        if self._closed:
            raise WriteError(f"cannot write: {self!r} is closed")
        if self._writing:
            raise busy(self, "write", "task")
        try:
            deadline = deadline_for(WriteTimeout)
        except WriteTimeout:
            # Nothing went, but the contract is simple and uniform: a stream
            # that timed out writing is closed.
            self._abort()
            raise
        await _checkpoint_if_cancelled()
        view = memoryview(data).cast("B") if not isinstance(data, bytes) else memoryview(data)
        self._writing = True
        try:
            waited = await self._top.send_all(view, deadline)
        except Expired as exc:
            self._abort()
            raise WriteTimeout(f"timed out writing to {self._peer}") from exc
        except (OSError, *_TRIO_ERRORS) as exc:
            if self._closed:  # closed by another task while we were writing
                raise WriteError(f"cannot write: {self!r} is closed") from exc
            self._abort()
            raise WriteError(f"write to {self._peer} failed: {exc}") from exc
        except BaseException:
            # Cancelled part-way: how much went is unknown, the stream is unusable.
            self._abort()
            raise
        finally:
            self._writing = False
        if not waited:
            await _cancel_shielded_checkpoint()

    def _take_readahead(self, max_bytes: int) -> bytes:
        readahead = self._readahead
        if isinstance(readahead, OSError):
            self._readahead = None
            self._abort()
            raise ReadError(f"read from {self._peer} failed: {readahead}") from readahead
        assert readahead is not None
        data, rest = readahead[:max_bytes], readahead[max_bytes:]
        self._readahead = rest or None
        return data

    # -- TLS -------------------------------------------------------------------

    async def start_tls(
        self,
        ctx: ssl.SSLContext | None = None,
        hostname: str | None = None,
        *,
        server_side: bool = False,
    ) -> None:
        """Upgrade to TLS in place; on a TLS stream, TLS inside TLS.

        `server_side=True` runs the handshake as the server, on a stream from
        `NetworkListener.accept()`: `ctx` is then required (a server context
        with the certificate) and `hostname` must be `None`.

        `ctx=None` uses [`netbase.default_ssl_context()`][netbase.default_ssl_context] (one shared
        instance). `hostname` drives SNI and certificate checks; it defaults
        to the host the backend connected to. Failure raises
        [`netbase.ConnectError`][netbase.ConnectError] (or
        [`netbase.ConnectTimeout`][netbase.ConnectTimeout]) and closes the stream, as does a
        cancellation during the handshake.
        """
        if ctx is None and not server_side and not shared_default_context_ready():
            await _load_default_context()
        ctx, hostname = start_tls_args(ctx, hostname, server_side, self._hostname)
        if self._closed:
            raise ConnectError(f"cannot start TLS: {self!r} is closed")
        deadline = deadline_for(ConnectTimeout)
        if self._readahead is not None:
            raise ConnectError("cannot start TLS: bytes were received before the handshake")
        await _checkpoint_if_cancelled()
        try:
            layer = TLSLayer(self._top, ctx, hostname, server_side=server_side)
            await layer.handshake(deadline)
        except Expired as exc:
            self._abort()
            raise ConnectTimeout(f"timed out in the TLS handshake with {self._peer}") from exc
        except (OSError, ValueError, *_TRIO_ERRORS) as exc:
            if self._closed:
                raise ConnectError(f"cannot start TLS: {self!r} is closed") from exc
            self._abort()
            raise ConnectError(f"TLS handshake with {self._peer} failed: {exc}") from exc
        except BaseException:
            self._abort()
            raise
        self._top = layer
        self._tls = True

    # -- information -----------------------------------------------------------

    def get_extra_info(self, key: str) -> Any:
        """`client_addr`, `server_addr`, `ssl_object`, `socket`, `is_readable`.

        Any other key gives `None`.
        """
        if key == "is_readable":
            return self._is_readable()
        if key == "ssl_object":
            top = self._top
            return top.obj if isinstance(top, TLSLayer) else None
        if key == "socket":
            return self._sock
        if key in ("client_addr", "server_addr"):
            return address_info(self._sock, key)
        return None

    def _is_readable(self) -> bool:
        """Would a read return at once? Data, end of stream or an error pending.

        On TLS, only application data or end of stream counts: a TLS 1.3
        session ticket makes the socket readable but gives the reader nothing,
        so the answer comes from a read that does not wait, whose result is
        kept for the next `read()`.
        """
        if self._closed or self._readahead is not None:
            return True
        if not self._tls:
            return poll_readable(self._fd)
        top = self._top
        if not top.has_buffered() and not poll_readable(self._fd):
            return False
        try:
            data = top.recv_nowait(RECV_CHUNK)
        except OSError as exc:
            self._readahead = exc
            return True
        if data is None:
            return False
        self._readahead = data
        return True

    # -- closing ---------------------------------------------------------------

    async def close(self) -> None:
        """Close the stream; calling it again does nothing more.

        A TLS stream sends its close_notify (every layer, innermost first) when
        it can go without waiting, and never waits for the peer's answer, so
        closing is bounded and never raises because the peer has gone. Like
        trio's own `aclose()`, it is a checkpoint: inside a cancelled scope
        the stream is closed all the same, then `trio.Cancelled` is raised.
        """
        if not self._closed:
            self._closed = True
            top: Transport = self._top
            while isinstance(top, TLSLayer):
                top.close_notify()
                top = top.lower
            self._close_socket()
        await trio.lowlevel.checkpoint()

    def _abort(self) -> None:
        """The stream is broken: close it at once, without a closing handshake."""
        if not self._closed:
            self._closed = True
            self._close_socket()

    def _close_socket(self) -> None:
        # Wakes any task waiting on this socket (with ClosedResourceError)
        # before the descriptor number can be reused.
        trio.lowlevel.notify_closing(self._fd)
        self._sock.close()

    def __repr__(self) -> str:
        return stream_repr(self._peer, self._tls, self._closed)


async def _load_default_context() -> None:
    """The process's first ``start_tls(ctx=None)``: load the system's trust off the loop.

    Loading a CA bundle takes tens of milliseconds of CPU, which on the loop's
    thread would stall every other task; a short-lived thread does it (not
    trio's thread cache, whose idle workers linger).
    """
    token = trio.lowlevel.current_trio_token()
    done = trio.Event()
    build_shared_in_thread(lambda: token.run_sync_soon(done.set))
    await done.wait()
