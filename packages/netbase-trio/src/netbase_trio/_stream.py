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
    BROKEN,
    CLOSED,
    DEFAULT_MAX_BYTES,
    OPEN,
    StreamBase,
    build_shared_in_thread,
    check_data,
    check_max_bytes,
    check_stream_socket,
    format_peer,
    poll_readable,
    set_nodelay,
    shared_default_context_ready,
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


class NetworkStream(StreamBase, AsyncNetworkStreamInterface):
    """A TCP (or UNIX) stream on trio.

    Build one around a socket that is already connected with
    `await NetworkStream.from_socket(sock)`: this is how a custom backend
    that connects by itself (over a UNIX domain socket, to an address it
    resolved and cached) still gets every behaviour of the contract.
    """

    # A few hundred bytes per idle stream matter to a pool of thousands
    # (StreamBase has the slots of the state every stream shares).
    __slots__ = ("_fd", "_reading", "_top", "_writing")

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
        self._state = OPEN
        # A read (a write) is under way: a second one at once is a caller's
        # bug, reported at once instead of breaking the stream under the first.
        self._reading = False
        self._writing = False
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
        if self._state:
            raise self._closed_error(ReadError)
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
            raise self._timed_out(ReadError) from exc
        except (OSError, *_TRIO_ERRORS) as exc:  # (or closed by another task meanwhile)
            raise self._failed(ReadError, exc) from exc
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
        if self._state:
            raise self._closed_error(WriteError)
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
            raise self._timed_out(WriteError) from exc
        except (OSError, *_TRIO_ERRORS) as exc:  # (or closed by another task meanwhile)
            raise self._failed(WriteError, exc) from exc
        except BaseException:
            # Cancelled part-way: how much went is unknown, the stream is unusable.
            self._abort()
            raise
        finally:
            self._writing = False
        if not waited:
            await _cancel_shielded_checkpoint()

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
        ctx, hostname = self._start_tls_checks(ctx, hostname, server_side)
        deadline = deadline_for(ConnectTimeout)
        await _checkpoint_if_cancelled()
        try:
            layer = TLSLayer(self._top, ctx, hostname, server_side=server_side)
            await layer.handshake(deadline)
        except Expired as exc:
            raise self._timed_out(ConnectError) from exc
        except (OSError, ValueError, *_TRIO_ERRORS) as exc:
            raise self._failed(ConnectError, exc) from exc
        except BaseException:
            self._abort()
            raise
        self._top = layer
        self._tls = True

    # -- information -----------------------------------------------------------

    def _ssl_object(self) -> Any:
        top = self._top
        return top.engine.obj if isinstance(top, TLSLayer) else None

    def _plain_readable(self) -> bool:
        return poll_readable(self._fd)

    def _peek_tls(self) -> bytes | OSError | None:
        top = self._top
        if not top.has_buffered() and not poll_readable(self._fd):
            return None
        try:
            return top.recv_nowait(RECV_CHUNK)
        except OSError as exc:
            return exc

    # -- closing ---------------------------------------------------------------

    async def close(self) -> None:
        """Close the stream; calling it again does nothing more.

        A TLS stream sends its close_notify (every layer, innermost first) when
        it can go without waiting, and never waits for the peer's answer, so
        closing is bounded and never raises because the peer has gone. Like
        trio's own `aclose()`, it is a checkpoint: inside a cancelled scope
        the stream is closed all the same, then `trio.Cancelled` is raised.
        """
        if self._state:
            self._state = CLOSED  # (broken before: closed now, as the caller asked)
        else:
            self._state = CLOSED
            top: Transport = self._top
            while isinstance(top, TLSLayer):
                top.close_notify()
                top = top.lower
            self._close_socket()
        await trio.lowlevel.checkpoint()

    def _abort(self) -> None:
        """The stream is broken: close it at once, without a closing handshake."""
        if self._state == OPEN:
            self._state = BROKEN
            self._close_socket()

    def _close_socket(self) -> None:
        # Wakes any task waiting on this socket (with ClosedResourceError)
        # before the descriptor number can be reused.
        trio.lowlevel.notify_closing(self._fd)
        self._sock.close()


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
