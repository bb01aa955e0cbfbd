"""`NetworkStream`: the asyncio stream, over a stack of layers."""

from __future__ import annotations

import asyncio
import math
import socket
import ssl
import time
import warnings
from typing import Any, cast

from netbase import (
    AsyncNetworkStreamInterface,
    ConnectError,
    ConnectTimeout,
    ReadError,
    ReadTimeout,
    WriteError,
    WriteTimeout,
    current_deadline,
    remaining,
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
from netbase_asyncio._deadline import Deadline, Expired
from netbase_asyncio._transports import (
    RECV_CHUNK,
    WRITE_SLICE,
    StreamProtocol,
    TLSLayer,
    Transport,
)

__all__ = ["NetworkStream"]

_monotonic = time.monotonic


class NetworkStream(StreamBase, AsyncNetworkStreamInterface):
    """A TCP (or UNIX) stream on an asyncio transport.

    Build one around a socket that is already connected with
    `await NetworkStream.from_socket(sock)`; it takes ownership of the
    socket. That is how a custom backend that connects by itself (over a UNIX
    domain socket, to an address it resolved and cached) still gets every
    behaviour of the contract. The constructor itself is internal.
    """

    def __init__(
        self,
        protocol: StreamProtocol,
        sock: socket.socket,
        peer: str,
        *,
        hostname: str | None = None,
    ) -> None:
        self._protocol = protocol
        self._loop = protocol._loop
        assert protocol.transport is not None
        self._transport = protocol.transport
        self._sock = sock
        self._peer = peer
        self._hostname = hostname
        self._top: Transport = protocol
        self._tls = False
        self._state = OPEN
        # A read (a write) is waiting: a second one at once is a caller's bug,
        # and raises at once instead of stealing the first one's wake-up.
        self._reading = False
        self._writing = False
        self._read_op: Deadline | None = None
        self._write_op: Deadline | None = None
        self._readahead: bytes | OSError | None = None

    @classmethod
    async def from_socket(
        cls, sock: socket.socket, *, hostname: str | None = None
    ) -> NetworkStream:
        """Wrap a connected TCP or UNIX socket; the stream owns it from then on.

        `hostname` is the name `start_tls()` uses when it is given none.
        Bad input raises `TypeError` / `ValueError` and leaves the socket to
        the caller.
        """
        peer = check_stream_socket(sock, "NetworkStream.from_socket()")
        set_nodelay(sock)
        return await cls._adopt(sock, format_peer(peer), hostname)

    @classmethod
    async def _adopt(
        cls, sock: socket.socket, peer: str | None, hostname: str | None
    ) -> NetworkStream:
        """The backend's constructor: put `sock`, connected, on the running loop.

        As on the other runtimes, the socket is known good (TCP_NODELAY set)
        and `peer` is written as the repr writes it; `None` reads it from the
        transport the loop makes (no second system call).
        """
        loop = asyncio.get_running_loop()
        protocol = StreamProtocol(loop)
        sock.setblocking(False)
        if sock.family == socket.AF_UNIX:
            await loop.create_unix_connection(lambda: protocol, sock=sock)
        else:
            await loop.create_connection(lambda: protocol, sock=sock)
        if peer is None:
            assert protocol.transport is not None
            peer = format_peer(protocol.transport.get_extra_info("peername"))
        return cls(protocol, sock, peer, hostname=hostname)

    @classmethod
    def _from_protocol(cls, protocol: StreamProtocol, hostname: str) -> NetworkStream:
        """A stream on the transport the loop made and connected (`loop_connect`).

        Its `socket` is the loop's view of the socket (`asyncio.TransportSocket`,
        uvloop's `PseudoSocket`): every socket query works, I/O stays the loop's.
        """
        transport = protocol.transport
        assert transport is not None
        sock = cast("socket.socket", transport.get_extra_info("socket"))
        peer = format_peer(transport.get_extra_info("peername"))
        return cls(protocol, sock, peer, hostname=hostname)

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
        deadline = current_deadline()  # one ContextVar.get() when no timeout is active
        if deadline != math.inf and deadline <= _monotonic():
            raise ReadTimeout("timed out: the deadline passed")
        if self._readahead is not None:
            return self._take_readahead(max_bytes)
        top = self._top
        protocol = self._protocol
        if top is protocol and protocol.size:
            return protocol.take(max_bytes)  # the common case: no await, no timer
        op = None
        if deadline != math.inf:
            op = self._read_op
            if op is None:
                op = self._read_op = Deadline(self._loop, deadline)
            else:
                op.when = deadline  # moved in place: see Deadline
        self._reading = True
        try:
            data = await top.recv(max_bytes, op)
        except Expired as exc:
            raise self._timed_out(ReadError) from exc
        except OSError as exc:  # (or closed by another task meanwhile: it says so)
            raise self._failed(ReadError, exc) from exc
        finally:
            self._reading = False
        if not data and self._state:
            # close() from another task ends the transport, which wakes this
            # read with nothing: that is not the peer's end of stream.
            raise self._closed_error(ReadError)
        return data

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send all of `data`: return once every byte has reached the kernel.

        [`netbase.WriteTimeout`][netbase.WriteTimeout] when the deadline passes (part of the data
        may have gone, so the stream is closed), [`netbase.WriteError`][netbase.WriteError] on
        failure (also closed).
        """
        check_data(data)
        if self._state:
            raise self._closed_error(WriteError)
        if self._writing:
            raise busy(self, "write", "task")
        deadline = current_deadline()
        if deadline != math.inf and deadline <= _monotonic():
            # Nothing went, but the contract is simple and uniform: a stream
            # that timed out writing is closed.
            self._abort()
            raise WriteTimeout("timed out: the deadline passed")
        if not isinstance(data, bytes):
            data = memoryview(data).cast("B")
        top = self._top
        protocol = self._protocol
        op = None
        if deadline != math.inf:
            op = self._write_op
            if op is None:
                op = self._write_op = Deadline(self._loop, deadline)
            else:
                op.when = deadline  # moved in place: see Deadline
        self._writing = True
        try:
            if top is protocol and len(data) <= WRITE_SLICE:
                protocol.send_nowait(data)
                # The kernel did not take it all, or refused it (the transport
                # then closes itself, and says why a moment later).
                if protocol.write_paused or self._transport.is_closing():
                    await protocol.drain(op)
            else:
                await top.send(data, op)
        except Expired as exc:
            raise self._timed_out(WriteError) from exc
        except OSError as exc:  # (or closed by another task meanwhile: it says so)
            raise self._failed(WriteError, exc) from exc
        finally:
            self._writing = False

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
        [`netbase.ConnectTimeout`][netbase.ConnectTimeout]) and closes the stream; so does a
        cancellation during the handshake.
        """
        if ctx is None and not server_side and not shared_default_context_ready():
            await _load_default_context(self._loop)
        ctx, hostname = self._start_tls_checks(ctx, hostname, server_side)
        timeout = remaining(ConnectTimeout)
        op = None if timeout is None else Deadline(self._loop, _monotonic() + timeout)
        try:
            layer = TLSLayer(self._top, ctx, hostname, server_side=server_side)
            await layer.handshake(op)
        except Expired as exc:
            raise self._timed_out(ConnectError) from exc
        except (OSError, ValueError) as exc:
            raise self._failed(ConnectError, exc) from exc
        except BaseException:
            self._abort()  # cancelled mid-handshake: the TLS state is unusable
            raise
        finally:
            if op is not None:
                op.cancel()
        self._top = layer
        self._tls = True

    # -- information -----------------------------------------------------------

    def _ssl_object(self) -> Any:
        top = self._top
        return top.engine.obj if isinstance(top, TLSLayer) else None

    def _plain_readable(self) -> bool:
        protocol = self._protocol
        if protocol.size or protocol.at_eof():
            return True
        # Bytes the kernel holds that the loop has not delivered yet.
        return poll_readable(self._sock.fileno())

    def _peek_tls(self) -> bytes | OSError | None:
        # Decrypts, without waiting, what the loop has delivered.
        try:
            return self._top.recv_nowait(RECV_CHUNK)
        except OSError as exc:
            return exc

    # -- closing ---------------------------------------------------------------

    async def close(self) -> None:
        """Close the stream; calling it again does nothing.

        A TLS stream sends its close_notify (every layer, innermost first) when
        it can go without waiting, and never waits for the peer's answer, so
        closing is bounded and never raises because the peer has gone. Returns
        once the loop has closed the socket.
        """
        if self._state:
            # Closed already (or broken), perhaps by a close() still under way
            # in another task: return, as that one will, once the socket is closed.
            self._state = CLOSED
            await self._protocol.wait_closed()
            return
        self._state = CLOSED
        self._cancel_timers()
        protocol = self._protocol
        if not protocol.lost:
            top = self._top
            while isinstance(top, TLSLayer):
                top.close_notify()
                top = top.lower
            protocol.close()
        await protocol.wait_closed()

    def _abort(self) -> None:
        """Close at once, without a closing handshake: the stream is broken."""
        if self._state == OPEN:
            self._state = BROKEN
        self._cancel_timers()
        if not self._protocol.lost:
            self._protocol.abort()

    def __del__(self) -> None:
        # Dropped without close(): the loop still holds the transport (and the
        # socket) for as long as it runs, so nothing else would free the
        # descriptor. Warn, once, as an unclosed socket does on threads and
        # trio, and abort the transport on the loop's thread.
        if getattr(self, "_state", CLOSED) or self._protocol.lost:
            return  # closed, or never fully made
        self._state = BROKEN
        warnings.warn(f"unclosed {self!r}", ResourceWarning, stacklevel=1, source=self)
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        try:
            if running is self._loop:
                self._abort()
            else:
                self._loop.call_soon_threadsafe(self._abort)
        except RuntimeError:
            pass  # the loop is closed: the transport warns and closes when collected

    def _cancel_timers(self) -> None:
        for op in (self._read_op, self._write_op):
            if op is not None:
                op.cancel()


async def _load_default_context(loop: asyncio.AbstractEventLoop) -> None:
    """The process's first ``start_tls(ctx=None)``: load the system's trust off the loop.

    Loading a CA bundle takes tens of milliseconds of CPU, which on the loop's
    thread would stall every other connection; a worker thread does it.
    """
    done: asyncio.Future[None] = loop.create_future()
    build_shared_in_thread(lambda: loop.call_soon_threadsafe(_wake, done))
    await done


def _wake(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)
