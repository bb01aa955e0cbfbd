"""`NetworkStream`: the threaded stream, over a stack of transports."""

from __future__ import annotations

import math
import socket
import ssl
import time
from typing import Any

from netbase import (
    ConnectError,
    ConnectTimeout,
    NetworkStreamInterface,
    ReadError,
    WriteError,
    current_deadline,
    remaining,
)
from netbase.lowlevel import (
    BROKEN,
    CLOSED,
    DEFAULT_MAX_BYTES,
    OPEN,
    StreamBase,
    check_data,
    check_max_bytes,
    check_stream_socket,
    format_peer,
    poll_readable,
    set_nodelay,
)
from netbase.lowlevel import busy_error as busy
from netbase_threaded._transports import (
    NOWAIT,
    RECV_CHUNK,
    PlainSocket,
    TLSLayer,
    Transport,
)

__all__ = ["NetworkStream"]

_INF = math.inf
_monotonic = time.monotonic


class NetworkStream(StreamBase, NetworkStreamInterface):
    """A TCP (or UNIX) stream on a blocking socket.

    `NetworkStream(sock)` wraps a socket that is already connected and takes
    ownership of it: this is how a custom backend that connects by itself (over
    a UNIX domain socket, to an address it resolved and cached) still gets every
    behaviour of the contract. `hostname` is the name `start_tls()` uses when
    it is given none (the backend passes the host it connected to).
    """

    def __init__(self, sock: socket.socket, *, hostname: str | None = None) -> None:
        peer = check_stream_socket(sock, "NetworkStream()")
        if sock.gettimeout() is not None:
            sock.settimeout(None)  # the transports rely on blocking mode
        set_nodelay(sock)
        self._setup(sock, format_peer(peer), hostname)

    @classmethod
    def _adopt(cls, sock: socket.socket, peer: str, hostname: str | None) -> NetworkStream:
        """The backend's constructor: the socket is known good, its peer known."""
        stream = cls.__new__(cls)
        stream._setup(sock, peer, hostname)
        return stream

    def _setup(self, sock: socket.socket, peer: str, hostname: str | None) -> None:
        self._sock: socket.socket = sock
        self._peer = peer
        self._hostname = hostname
        self._top: Transport = PlainSocket(sock)
        self._tls = False
        self._state = OPEN
        # Whether a read / a write is under way: close() must then wake it,
        # and a second read (write) meanwhile is a caller's bug, reported at
        # once. Two flags, not one counter: the reader and the writer may be
        # two threads, and "+= 1" on a shared attribute is not atomic.
        self._reading = False
        self._writing = False
        self._handshaking = False
        self._readahead: bytes | OSError | None = None

    # -- reading and writing -------------------------------------------------

    def read(self, max_bytes: int | None = None) -> bytes:
        """Return 1 to `max_bytes` bytes (default 65536), or `b""` at end of stream.

        Under an active [`netbase.timeout()`][netbase.timeout] raises
        [`netbase.ReadTimeout`][netbase.ReadTimeout] when the deadline passes; the stream stays open
        and a later read returns what arrives. Other failures raise
        [`netbase.ReadError`][netbase.ReadError] and close it.
        """
        if max_bytes.__class__ is not int or not 0 < max_bytes <= DEFAULT_MAX_BYTES:
            # None (the default), or a size to cap or to refuse: an int in
            # range, the common case, needs no call.
            max_bytes = check_max_bytes(max_bytes)
        if self._state:
            raise self._closed_error(ReadError)
        if self._reading:
            raise busy(self, "read", "thread")
        # The deadline goes down as it is (the layers read the clock only when
        # they are about to wait); one that has passed fails before any I/O.
        deadline = current_deadline()
        if deadline != _INF and deadline <= _monotonic():
            raise self._timed_out(ReadError)
        if self._readahead is not None:
            return self._take_readahead(max_bytes)
        self._reading = True
        try:
            data = self._top.recv(max_bytes, deadline)
        except TimeoutError as exc:
            raise self._timed_out(ReadError) from exc
        except OSError as exc:  # (or closed by another thread meanwhile: it says so)
            raise self._failed(ReadError, exc) from exc
        finally:
            self._reading = False
        if not data and self._state:
            # close() from another thread shuts the socket down, which wakes
            # this read with an empty result: that is not the peer's end of stream.
            raise self._closed_error(ReadError)
        return data

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send all of `data`.

        [`netbase.WriteTimeout`][netbase.WriteTimeout] when the deadline passes (part of the data
        may have gone, so the stream is closed), [`netbase.WriteError`][netbase.WriteError] on
        failure (also closed).
        """
        if data.__class__ is not bytes:
            check_data(data)
            data = memoryview(data).cast("B")  # so that len() counts bytes
        if self._state:
            raise self._closed_error(WriteError)
        if self._writing:
            raise busy(self, "write", "thread")
        deadline = current_deadline()
        if deadline != _INF and deadline <= _monotonic():
            # Nothing went, but the contract is simple and uniform: a stream
            # that timed out writing is closed.
            raise self._timed_out(WriteError)
        self._writing = True
        try:
            self._top.send_all(data, deadline)
        except TimeoutError as exc:
            raise self._timed_out(WriteError) from exc
        except OSError as exc:
            raise self._failed(WriteError, exc) from exc
        finally:
            self._writing = False

    # -- TLS -------------------------------------------------------------------

    def start_tls(
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
        [`netbase.ConnectTimeout`][netbase.ConnectTimeout]) and closes the stream.
        """
        ctx, hostname = self._start_tls_checks(ctx, hostname, server_side)
        timeout = remaining(ConnectTimeout)
        deadline = _INF if timeout is None else _monotonic() + timeout
        self._handshaking = True  # close() from another thread must wake it
        try:
            layer = TLSLayer(self._top, ctx, hostname, server_side=server_side)
            layer.handshake(deadline)
        except TimeoutError as exc:
            raise self._timed_out(ConnectError) from exc
        except (OSError, ValueError) as exc:
            if self._closed_meanwhile():  # by another thread, during the handshake
                self._close_socket()  # (again: harmless, and the socket may be new)
            raise self._failed(ConnectError, exc) from exc
        finally:
            self._handshaking = False
        if self._closed_meanwhile():  # as the handshake ended: the stream stays closed
            raise self._closed_error(ConnectError)
        self._top = layer
        self._tls = True

    def _closed_meanwhile(self) -> bool:
        """Whether another thread closed the stream since this one last looked."""
        return self._state != OPEN

    # -- information -----------------------------------------------------------

    def _ssl_object(self) -> Any:
        top = self._top
        return top.engine.obj if isinstance(top, TLSLayer) else None

    def _peek_tls(self) -> bytes | OSError | None:
        top = self._top
        if not top.has_buffered() and not poll_readable(self._sock.fileno()):
            return None
        try:
            return top.recv(RECV_CHUNK, NOWAIT)
        except TimeoutError:
            return None
        except OSError as exc:
            return exc

    # -- closing ---------------------------------------------------------------

    def close(self) -> None:
        """Close the stream; calling it again does nothing.

        A TLS stream sends its close_notify (every layer, innermost first) when
        it can go without waiting, and never waits for the peer's answer, so
        closing is bounded and never raises because the peer has gone.
        """
        if self._state:
            self._state = CLOSED  # broken before: closed now, as the caller asked
            return
        self._state = CLOSED
        top: Transport | None = self._top
        while isinstance(top, TLSLayer):
            try:
                top.close_notify()
            except OSError:
                break
            top = top.lower
        self._close_socket()

    def _abort(self) -> None:
        """Close at once, without a closing handshake: the stream is broken."""
        if self._state == OPEN:
            self._state = BROKEN
        self._close_socket()

    def _close_socket(self) -> None:
        sock = self._sock
        if self._reading or self._writing or self._handshaking:
            # Another thread is blocked reading or writing this socket:
            # shutdown() wakes it, close() alone would not. (Not done always:
            # it is one more system call on every close.)
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        sock.close()
