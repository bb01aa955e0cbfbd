"""The layers a threaded stream reads and writes through.

A stream is a stack of transports: a plain socket at the bottom, then one
`TLSLayer` per `start_tls` (TLS inside TLS is one more layer), each the
core's `netbase.lowlevel.TLSEngine` (an `ssl.SSLObject` over memory BIOs)
fed from the layer below.

Every transport has the same small surface, and none of it knows about
netbase's exceptions: they raise `OSError` (`ssl.SSLError` included) and,
when the time given runs out, the builtin `TimeoutError`. The stream maps
those to the contract's exceptions, because only it knows whether it was
reading, writing or handshaking.

`deadline` arguments are `time.monotonic()` values: `math.inf` for no
limit, `NOWAIT` for "do not wait at all" (used by `is_readable` and by a
closing handshake). A deadline is absolute, not a number of seconds, so a
layer hands it down unchanged and the clock is read only where a wait is
about to start. A deadline that has already passed is the stream's to
report, before any I/O (it checks); a layer raises `TimeoutError` only when
it would have to wait past it.

Why the first TLS layer is not an `ssl.SSLSocket`: it was, so that OpenSSL
read the socket itself, with no copy through a memory BIO. Measured against
the engine over the plain socket (same process, alternately, a 64 MiB TLS
download and 64-byte round trips), it was not faster: the engine reads the
blocking socket in one system call where the `SSLSocket`, made non-blocking
so that a reader and a writer thread could share it under a lock, polled
first; and the engine decrypts every whole record received in one call. One
TLS layer for the first level and for TLS inside TLS also means one set of
rules for the end of a stream: a reset is the plain socket's
`ConnectionResetError`, a FIN without close_notify the end of the stream.
"""

from __future__ import annotations

import math
import select
import socket
import ssl
import threading
import time
from typing import Protocol

from netbase.lowlevel import TLSEngine

_monotonic = time.monotonic
_INF = math.inf
NOWAIT = -math.inf
"""The deadline that means "do not wait": one attempt, `TimeoutError` if it would block."""
_POLLIN = select.POLLIN
_POLLOUT = select.POLLOUT
# MSG_DONTWAIT makes one call non-blocking without touching the socket's mode,
# so a reader thread and a writer thread never flip the mode under each other.
_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)

RECV_CHUNK = 65536


def wait_ready(fd: int, events: int, deadline: float) -> None:
    """Block until `fd` is ready for `events`, or raise `TimeoutError` at `deadline`."""
    poller = select.poll()
    poller.register(fd, events)
    if deadline == _INF:
        poller.poll()
        return
    left = deadline - _monotonic()
    # poll() takes milliseconds and rounds up, so it never wakes early and spins.
    if left <= 0 or not poller.poll(left * 1000.0):
        raise TimeoutError("timed out")


class Transport(Protocol):
    """What a stream needs from the layer under it."""

    def recv(self, max_bytes: int, deadline: float) -> bytes:
        """1 to `max_bytes` bytes, or `b""` at end of stream."""

    def send_all(self, data: bytes | memoryview, deadline: float) -> None:
        """Send all of `data` (bytes, or a memoryview of bytes) by `deadline`."""

    def has_buffered(self) -> bool:
        """Whether bytes are already held above the socket (decrypted or not)."""

    def close_notify(self) -> None:
        """TLS: send a close_notify if it can go without waiting. Plain: nothing."""


class PlainSocket:
    """A connected socket, kept in blocking mode.

    With no deadline a read is one blocking `recv()`: a single system call.
    With a deadline it is `poll()` with the time left, then
    `recv(MSG_DONTWAIT)`, as CPython's own socket timeouts do, except when
    the previous read found data waiting: then the `recv` goes first and
    the poll is skipped while data keeps being there. (Trying first every
    time costs a failed call and an exception per read when the peer is
    slower than we are, which on loopback is most of the time.)

    A write is one `sendall()` with no deadline; with one, a
    `send(MSG_DONTWAIT)` first (all of a small write leaves in it), and a
    `poll()` only when the send buffer is full. The socket's mode never
    changes: CPython's `settimeout()` costs an `ioctl()` each time.
    """

    __slots__ = ("blocking", "fd", "found_data", "read_poller", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        # A socket connected under a deadline comes non-blocking, and stays
        # so until an operation without a deadline needs it to block: most
        # streams opened under a deadline are used under one, and then never
        # pay the ioctl() that switching costs. (Only ever this way round, so
        # a reader and a writer thread cannot flip it under each other.)
        self.blocking = sock.gettimeout() is None
        self.found_data = False
        # Made on the first read under a deadline, then kept: only the one
        # reader thread polls it (writers make their own).
        self.read_poller: select.poll | None = None

    def recv(self, max_bytes: int, deadline: float) -> bytes:
        sock = self.sock
        if deadline == _INF:
            if not self.blocking:
                self.block()
            return sock.recv(max_bytes)
        if deadline == NOWAIT:
            try:
                return sock.recv(max_bytes, _DONTWAIT)
            except BlockingIOError:
                raise TimeoutError("no data pending") from None
        if self.found_data:
            try:
                return sock.recv(max_bytes, _DONTWAIT)
            except BlockingIOError:
                self.found_data = False
        poller = self.read_poller
        if poller is None:
            poller = self.read_poller = select.poll()
            poller.register(self.fd, _POLLIN)
        while True:
            left = deadline - _monotonic()
            # poll() takes milliseconds and rounds up, so it never wakes early and spins.
            if left <= 0 or not poller.poll(left * 1000.0):
                raise TimeoutError("timed out")
            try:
                data = sock.recv(max_bytes, _DONTWAIT)
            except BlockingIOError:
                continue  # woken for nothing: wait again
            self.found_data = len(data) == max_bytes  # more is likely waiting
            return data

    def send_all(self, data: bytes | memoryview, deadline: float) -> None:
        sock = self.sock
        if deadline == _INF:
            if not self.blocking:
                self.block()
            sock.sendall(data)
            return
        # One non-blocking send first: a small write (a request, a ping)
        # leaves in it, with no poll and no view of the data.
        try:
            sent = sock.send(data, _DONTWAIT)
        except BlockingIOError:
            sent = 0
        if sent == len(data):
            return
        view = memoryview(data)[sent:]
        while True:
            if deadline == NOWAIT:
                raise TimeoutError("the socket's send buffer is full")
            wait_ready(self.fd, _POLLOUT, deadline)
            try:
                sent = sock.send(view, _DONTWAIT)
            except BlockingIOError:
                continue  # woken for nothing: wait again
            if sent == len(view):
                return
            view = view[sent:]

    def block(self) -> None:
        """Put the socket in blocking mode, for the calls that wait with no deadline."""
        self.sock.setblocking(True)
        self.blocking = True

    def has_buffered(self) -> bool:
        return False

    def close_notify(self) -> None:
        pass


class TLSLayer:
    """TLS over another transport: the core's `TLSEngine`, fed from the layer below.

    The engine decides everything TLS (handshake,
    decrypted data or "need data", close_notify or a truncated stream as the
    end of the stream); this layer only moves its bytes and waits. Bytes read
    from the layer below go into the engine before anything is decrypted, so
    a timeout between two reads loses nothing: the next call carries on from
    there.

    A reader thread and a writer thread may use one stream at once, and
    `SSLObject` methods release the GIL, so two locks keep them apart:

    - `ssl_lock` around every call into the engine. It is held for
      microseconds and never while waiting on the layer below.
    - `send_lock` around "take what the engine wants sent, send it", so
      that TLS records leave in the order they were made even when the reader
      (a key update) and the writer both have something to send.
    """

    __slots__ = ("engine", "lower", "send_lock", "ssl_lock")

    def __init__(
        self,
        lower: Transport,
        ctx: ssl.SSLContext,
        hostname: str | None,
        *,
        server_side: bool = False,
    ) -> None:
        self.lower = lower
        self.engine = TLSEngine(ctx, hostname, server_side=server_side)
        self.ssl_lock = threading.Lock()
        self.send_lock = threading.Lock()

    def _flush(self, deadline: float) -> None:
        """Send what the engine has to send (callers check `outgoing.pending` first)."""
        # "Do not wait" includes the lock: a writer blocked in send_all() below
        # (a peer that does not read) holds it for as long as it is blocked,
        # and close() must not wait for that writer; it wakes it instead.
        if not self.send_lock.acquire(blocking=deadline != NOWAIT):
            return  # the writer's flush will take these bytes, after its own
        try:
            with self.ssl_lock:
                pending = self.engine.data_to_send()
            if pending:
                self.lower.send_all(pending, deadline)
        finally:
            self.send_lock.release()

    def handshake(self, deadline: float) -> None:
        engine = self.engine
        while True:
            with self.ssl_lock:
                done = engine.do_handshake()
            if engine.outgoing.pending:
                self._flush(deadline)
            if done:
                return
            received = self.lower.recv(RECV_CHUNK, deadline)
            with self.ssl_lock:
                engine.receive(received)

    def recv(self, max_bytes: int, deadline: float) -> bytes:
        engine = self.engine
        ssl_lock = self.ssl_lock
        with ssl_lock:
            data = engine.read(max_bytes)
        while True:
            # Reading may have produced something to send (a key update).
            if engine.outgoing.pending:
                self._flush(deadline)
            if data is not None:
                return data
            received = self.lower.recv(RECV_CHUNK, deadline)
            with ssl_lock:
                engine.receive(received)
                data = engine.read(max_bytes)

    def send_all(self, data: bytes | memoryview, deadline: float) -> None:
        engine = self.engine
        if deadline == NOWAIT:  # an outer layer's close_notify: never wait for the lock
            with self.ssl_lock:
                engine.write(data)
            self._flush(NOWAIT)
            return
        # The engine takes all of `data` (SSLObject.write() writes whole
        # records into the memory BIO); encrypting it and taking the records
        # under the send lock keeps them in order, in one pass.
        with self.send_lock:
            with self.ssl_lock:
                engine.write(data)
                pending = engine.data_to_send()
            if pending:
                self.lower.send_all(pending, deadline)

    def has_buffered(self) -> bool:
        with self.ssl_lock:
            pending = self.engine.has_buffered()
        return pending or self.lower.has_buffered()

    def close_notify(self) -> None:
        with self.ssl_lock:
            self.engine.close_notify()
        if self.engine.outgoing.pending:
            try:
                self._flush(NOWAIT)
            except OSError:
                pass
