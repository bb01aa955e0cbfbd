"""The layers a trio stream reads and writes through: a socket, then TLS layers.

Why not `trio.SocketStream` and `trio.SSLStream`: the contract's
`get_extra_info("is_readable")` is synchronous, and on TLS it must say
whether *application data* is waiting (a TLS 1.3 session ticket alone must
leave it `False`). Only decrypting what has arrived tells, and
`SSLStream` can do that only in an `await`. So netbase keeps its own
layers, as `netbase_threaded` does: a non-blocking stdlib socket at the
bottom, and for every `start_tls` a TLS layer stacked on the layer below:
the core's `netbase.lowlevel.TLSEngine` (an `ssl.SSLObject` over memory
BIOs), fed and emptied by this module (TLS inside TLS is just one more
layer, as with `SSLStream` over `SSLStream`). Every layer has a synchronous
`recv_nowait()` that feeds whatever the socket holds into the engine without
waiting; `is_readable` uses it and keeps the result as readahead for the
next `read()`, so nothing is lost.

It is also cheaper than the trio streams: no conflict detectors, no locks,
a read is the system call and trio's own `wait_readable` when it must wait,
and a deadline costs a cancel scope only around that wait.

Layers never raise netbase's exceptions: `OSError` (`ssl.SSLError`
included), trio's `ClosedResourceError`/`BusyResourceError` when the
stream is closed under a waiting task, and `Expired`
when the deadline passes. The stream maps them, because only it knows whether
it was reading, writing or handshaking. `deadline` arguments are
`time.monotonic()` values, `None` for no limit.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from typing import Protocol

import trio

from netbase.lowlevel import TLSEngine
from netbase_trio._deadline import run_until

__all__ = ["RECV_CHUNK", "PlainSocket", "TLSLayer", "Transport"]

RECV_CHUNK = 65536
SEND_SLICE = 262144

_wait_readable = trio.lowlevel.wait_readable
_wait_writable = trio.lowlevel.wait_writable


class Transport(Protocol):
    """What a stream needs from the layer under it."""

    def recv_nowait(self, max_bytes: int) -> bytes | None:
        """1 to `max_bytes` bytes, `b""` at end of stream, `None` if it would wait."""

    async def wait_recv(self, max_bytes: int, deadline: float | None) -> bytes:
        """Wait for data, then read it; the caller found nothing with `recv_nowait`."""

    async def send_all(self, data: memoryview, deadline: float | None) -> bool:
        """Send all of `data`; returns whether it had to wait (it then checkpointed)."""

    def send_nowait(self, data: bytes) -> None:
        """Send what goes at once, drop the rest, never raise (closing handshakes)."""

    def has_buffered(self) -> bool:
        """Whether bytes are already held above the socket (decrypted or not)."""

    def wants_flush(self) -> bool:
        """Whether reading produced bytes that must be sent (TLS key updates)."""

    async def flush(self, deadline: float | None) -> None:
        """Send what reading produced."""


async def recv_some(layer: Transport, max_bytes: int, deadline: float | None) -> bytes:
    """Read from `layer`, waiting if nothing is there yet."""
    data = layer.recv_nowait(max_bytes)
    if data is None:
        data = await layer.wait_recv(max_bytes, deadline)
    return data


class PlainSocket:
    """A connected stdlib socket in non-blocking mode, waited on through trio."""

    __slots__ = ("fd", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()

    def recv_nowait(self, max_bytes: int) -> bytes | None:
        try:
            return self.sock.recv(max_bytes)
        except BlockingIOError:
            return None

    async def wait_recv(self, max_bytes: int, deadline: float | None) -> bytes:
        while True:
            await run_until(_wait_readable, self.fd, deadline)
            try:
                return self.sock.recv(max_bytes)
            except BlockingIOError:
                pass

    async def send_all(self, data: memoryview, deadline: float | None) -> bool:
        sock = self.sock
        waited = False
        while True:
            try:
                sent = sock.send(data)
            except BlockingIOError:
                sent = 0
            if sent == len(data):
                return waited
            data = data[sent:]
            await run_until(_wait_writable, self.fd, deadline)
            waited = True

    def send_nowait(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            self.sock.send(data)

    def has_buffered(self) -> bool:
        return False

    def wants_flush(self) -> bool:
        return False

    async def flush(self, deadline: float | None) -> None:
        pass


class TLSLayer:
    """TLS over another transport: the core's `TLSEngine`, fed from the layer below.

    The engine decides everything TLS (handshake, decrypted data or "need
    data", close_notify or a truncated stream as the end of the stream); this
    layer only moves its bytes and waits. Bytes read from the layer below go
    into the engine before anything else can happen, so a timeout or a
    cancellation between two reads loses nothing: the next call carries on
    from there.

    A reader and a writer may run at once (one of each, as the contract
    allows). Both can have bytes to send (the writer its records, the reader
    an answer to a key update), and bytes must reach the socket in the order
    OpenSSL produced them; so one task at a time sends, and a sender that was
    suspended sends what was produced meanwhile before it returns. A writer
    that finds the reader sending waits for it (`_idle`); a reader that finds
    the writer sending leaves its bytes to it and reads on, since the writer
    may be waiting for the peer to read, and the peer for us to.
    """

    __slots__ = ("_idle", "_sending", "engine", "lower")

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
        self._sending = False
        self._idle = trio.lowlevel.ParkingLot()

    async def handshake(self, deadline: float | None) -> None:
        """Run the TLS handshake over the layer below."""
        engine = self.engine
        while not engine.do_handshake():
            await self._send_out(deadline)
            engine.receive(await recv_some(self.lower, RECV_CHUNK, deadline))
        await self._send_out(deadline)

    def recv_nowait(self, max_bytes: int) -> bytes | None:
        engine = self.engine
        while (data := engine.read(max_bytes)) is None:
            raw = self.lower.recv_nowait(RECV_CHUNK)
            if raw is None:
                return None
            engine.receive(raw)
        return data

    async def wait_recv(self, max_bytes: int, deadline: float | None) -> bytes:
        engine = self.engine
        while True:
            if engine.outgoing.pending and not self._sending:
                await self._send_out(deadline)
            engine.receive(await self.lower.wait_recv(RECV_CHUNK, deadline))
            data = self.recv_nowait(max_bytes)
            if data is not None:
                return data

    async def send_all(self, data: memoryview, deadline: float | None) -> bool:
        if not data:
            return await self._send_out(deadline)
        # Encrypt a slice at a time: a large write neither doubles in memory
        # as ciphertext nor waits for all of it to be encrypted before sending.
        waited = False
        write = self.engine.write
        for start in range(0, len(data), SEND_SLICE):
            write(data[start : start + SEND_SLICE])
            waited |= await self._send_out(deadline)
        return waited

    async def _send_out(self, deadline: float | None) -> bool:
        waited = False
        while True:
            if self._sending:
                await run_until(_park, self._idle, deadline)
                waited = True
                continue
            data = self.engine.data_to_send()
            if not data:
                return waited
            self._sending = True
            try:
                waited |= await self.lower.send_all(memoryview(data), deadline)
            finally:
                self._sending = False
                self._idle.unpark_all()

    def send_nowait(self, data: bytes) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.engine.write(data)
        self.lower.send_nowait(self.engine.data_to_send())

    def has_buffered(self) -> bool:
        return self.engine.has_buffered() or self.lower.has_buffered()

    def wants_flush(self) -> bool:
        return self.engine.outgoing.pending > 0 or self.lower.wants_flush()

    async def flush(self, deadline: float | None) -> None:
        # A reader that finds a writer sending leaves its bytes to it (a sender
        # that was suspended takes what was produced meanwhile before it
        # returns) instead of waiting behind a write that may be waiting for a
        # peer that waits for this very read.
        if not self._sending:
            await self._send_out(deadline)
        await self.lower.flush(deadline)

    def close_notify(self) -> None:
        """Send our close_notify if it goes at once; never wait for the peer's.

        Skipped while another task is sending, whose records it would cut in
        two.
        """
        if self._sending:
            return
        self.engine.close_notify()
        pending = self.engine.data_to_send()
        if pending:
            self.lower.send_nowait(pending)


async def _park(lot: trio.lowlevel.ParkingLot) -> None:
    await lot.park()
