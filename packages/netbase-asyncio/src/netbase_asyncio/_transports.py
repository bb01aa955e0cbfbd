"""The layers an asyncio stream reads and writes through.

A stream is a stack of layers. At the bottom, `StreamProtocol` is an
`asyncio.Protocol` on the loop's own socket transport: the loop pushes bytes
into it (no `sock_recv` per read, which would register and unregister the
reader every call) and it keeps them in a bounded buffer, pausing the transport
when a fast peer gets too far ahead. Each `start_tls` puts a
`TLSLayer` on top: the core's `netbase.lowlevel.TLSEngine` (an
`ssl.SSLObject` over memory BIOs), fed from the layer below.

Why TLS is done here rather than with `loop.start_tls`: the loops' own TLS
transports differ exactly where the contract is strict. uvloop's drops the
decrypted data it still holds when the peer's FIN arrives while reading is
paused (the uvloop bulk-tls failures in `benchmarks/results.md`; uvloop PR
661), Python 3.10 cannot `start_tls` over a TLS transport (cpython #81360)
so TLS inside TLS needs this layer anyway,
their closing handshakes wait for the peer (`ssl_shutdown_timeout`, 30 s by
default), and neither says whether the bytes it holds are application data or
a session ticket (`is_readable`). One layer of our own behaves the same on
every loop and every Python, and asyncio's own TLS transport is the same
`SSLObject` and BIOs driven from Python, so the default loop pays nothing
for it.

Every layer has the same small surface. None of it knows about netbase's
exceptions: failures are `OSError` (`ssl.SSLError` included) and a passed
deadline is `netbase.lowlevel.Expired`; the stream maps them.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import ssl
import threading
from typing import Protocol, cast

from netbase.lowlevel import TLSEngine
from netbase_asyncio._deadline import Deadline

RECV_CHUNK = 65536
# Reading pauses when this much is buffered and not yet read, and resumes once
# the reader has brought it down to LOW_WATER: memory stays bounded whatever
# the peer sends. (The read that crosses the mark may overshoot it by the free
# space of the buffer: the buffer never exceeds MAX_BUFFER.)
HIGH_WATER = 512 * 1024
LOW_WATER = 128 * 1024
# The loop receives into a buffer of INITIAL_BUFFER bytes (the thread's
# landing buffer, see _Landing). While the peer is ahead (a receive fills all
# the room it was offered), a stream takes a buffer twice the size for its
# next receive, up to HIGH_WATER (a full buffer of that size does not pause
# reading; pausing and resuming cost a system call each), and halves it again
# for each small read once it is not. A buffer a lagging reader leaves unread
# also doubles, up to MAX_BUFFER (above HIGH_WATER, so that a paused
# transport's last read still fits).
INITIAL_BUFFER = 64 * 1024
MAX_BUFFER = 1024 * 1024
# The buffers streams own (a transfer's: small reads are copied out of the
# landing buffer and own none) wait here once emptied or outgrown, one list
# per size, for the next stream that needs one (threads with their own loops
# share them safely: list.append and list.pop are atomic, and a pop is tried,
# never checked first). A stream holds a buffer only while it has unread
# bytes, so an idle stream costs no buffer; a bulk transfer takes back the
# grown buffer it gave back, and grows through pooled sizes (under uvloop,
# libuv reads up to 32 times per wakeup, so the buffer grows to the
# flow-control bound on every one of them), instead of allocating them again.
# At most about 3 MiB is kept for the whole process.
_POOLS: dict[int, list[memoryview]] = {INITIAL_BUFFER << i: [] for i in range(5)}
_POOL_LIMITS = {size: max(1, 16 >> (2 * i)) for i, size in enumerate(_POOLS)}


def _take_buffer(capacity: int) -> memoryview:
    """A free buffer of `capacity` bytes from its pool, or a new one.

    One pop, no check first: another thread's loop may take the last buffer
    between a check and the pop.
    """
    try:
        return _POOLS[capacity].pop()
    except (IndexError, KeyError):  # (KeyError: past MAX_BUFFER, never kept)
        return memoryview(bytearray(capacity))


def _give_back(view: memoryview) -> None:
    """Put a buffer no stream holds any more in its pool, if that has room."""
    pool = _POOLS.get(len(view))
    # (None: grown past MAX_BUFFER, too big to keep.)
    if pool is not None and len(pool) < _POOL_LIMITS[len(view)]:
        pool.append(view)


class _Landing(threading.local):
    """The buffer a thread's loop receives small reads into, shared by its streams.

    A pool cannot serve many streams at once: with thousands of streams
    readable in one pass of the loop, each is given a buffer before any task
    has taken its bytes, so nearly every receive would allocate 64 KiB (and
    fault its pages in) for a few hundred bytes. But the loop asks for a
    buffer (`get_buffer`), receives into it (`recv_into`, or libuv's read)
    and reports the count (`buffer_updated`) back to back on its own thread,
    with nothing in between that could ask again: so one buffer per thread
    serves every stream of that thread's loop, and `buffer_updated` copies
    what arrived out at its exact size. Per thread, not per process: threads
    with their own loops receive at the same time.
    """

    def __init__(self) -> None:
        self.view = _take_buffer(INITIAL_BUFFER)


_landing = _Landing()

# What a TLS layer takes from below in one go, and hands to SSLObject.write().
TLS_CHUNK = 256 * 1024
# A larger write goes to the transport a slice at a time, the next once the
# kernel has taken the last: what the transport keeps beyond the kernel stays
# bounded (Python 3.10 and 3.11 copy it into their own buffer, and 3.10 moves
# what is left of that buffer after every send, on the loop's thread), and a
# deadline is checked between slices instead of after the whole payload.
WRITE_SLICE = 256 * 1024


class Transport(Protocol):
    """What a layer needs from the layer under it."""

    async def recv(self, max_bytes: int, op: Deadline | None) -> bytes:
        """1 to `max_bytes` bytes, or `b""` at end of stream."""

    def recv_nowait(self, max_bytes: int) -> bytes | None:
        """What `recv()` would return at once, or `None` if it would wait."""

    async def send(self, data: bytes | memoryview, op: Deadline | None) -> None:
        """Send all of `data` (into the kernel, for the bottom layer)."""

    def send_nowait(self, data: bytes) -> None:
        """Queue `data` without waiting (small control messages: close_notify)."""

    def has_buffered(self) -> bool:
        """Whether bytes are held above the socket."""


def _connection_closed() -> OSError:
    return BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


class StreamProtocol(asyncio.BufferedProtocol):
    """The bottom layer: a protocol on the loop's socket transport, with a bounded buffer.

    A `BufferedProtocol`: the loop reads straight into a buffer of ours
    (`recv_into`) instead of allocating a fresh 256 KiB `bytes` per read,
    which is what makes asyncio's plain `Protocol` slow at ping-pong (the
    raw `asyncio.Protocol` rows of `benchmarks/results.md`).

    Unread bytes live in one of two places. A read that does not fill the
    thread's shared landing buffer (`_Landing`: a request, a reply, the tail of
    a transfer) is copied out of it at its exact size (`_chunk`), which is all
    the copying there is when the reader takes it whole: `take` hands that very
    `bytes` object on. A read that fills the room it was given means the peer
    is ahead: the stream then owns a buffer (`_view`: the full landing buffer
    itself, the thread taking another), so a bulk transfer is received in
    place and copied once, as the reader takes it, and its next buffer is
    twice the size, so that the reader finds more than one read's worth
    waiting and does not wait on every read (stdlib asyncio receives once per
    readiness event). The stream keeps that size while receives keep filling
    their buffers, and halves it, down to the landing buffer, each time a
    receive into an empty stream would have fitted the landing buffer. Either
    way, once the reader has emptied it the stream holds nothing: an idle
    stream costs no buffer.

    The transport's write buffer limits are set to zero, so the protocol is
    paused as soon as the kernel does not take a write whole: `send` then
    returns only when every byte has reached the kernel, which is what the
    contract's `write` promises and what lets a write deadline mean something.
    """

    __slots__ = (
        "_capacity",
        "_chunk",
        "_closed",
        "_drain_waiters",
        "_eof",
        "_loop",
        "_read_paused",
        "_read_waiter",
        "_start",
        "_view",
        "error",
        "lost",
        "size",
        "transport",
        "write_paused",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        # Nothing held until bytes arrive (the loop asks for a buffer only
        # when the socket is readable), and nothing again once the reader has
        # taken them. The unread bytes (`size` of them, from _start on) are
        # in _chunk (a small read, copied out of the landing buffer) or in
        # _view (a buffer the stream owns); never both.
        self._chunk: bytes | None = None
        self._view: memoryview | None = None
        # The size of the next buffer: INITIAL_BUFFER means the landing buffer.
        self._capacity = INITIAL_BUFFER
        self._start = 0
        self.size = 0  # bytes buffered and not yet read
        self._eof = False
        self.error: BaseException | None = None
        self.lost = False
        self._read_paused = False
        self.write_paused = False
        self._read_waiter: asyncio.Future[None] | None = None
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._closed: asyncio.Future[None] | None = None  # made by wait_closed()

    # -- asyncio.BufferedProtocol ------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not inherit from asyncio.Transport.
        self.transport = cast("asyncio.Transport", transport)
        self.transport.set_write_buffer_limits(high=0)

    def get_buffer(self, sizehint: int) -> memoryview:
        view = self._view
        if view is None:
            chunk = self._chunk
            if chunk is None:
                if self._capacity == INITIAL_BUFFER:
                    # Nothing unread: receive into the landing buffer, and let
                    # buffer_updated copy the bytes out (or keep the buffer).
                    return _landing.view
                # The peer was ahead: a whole buffer of the grown size.
                view = self._view = _take_buffer(self._capacity)
                return view
            # More arrives before the reader took a small read: move it into
            # a buffer of the stream's own (a copy of less than 64 KiB, rare:
            # it takes a reader slower than the peer).
            view = self._view = _take_buffer(self._capacity)
            start = self._start
            size = self.size
            view[:size] = memoryview(chunk)[start : start + size]
            self._chunk = None
            self._start = 0
        capacity = len(view)
        end = self._start + self.size
        if capacity - end < capacity // 4:
            size = self.size
            if self._start:
                # Move the unread bytes to the front.
                view[:size] = view[self._start : end]
                self._start = 0
            end = size
            if capacity - size < capacity // 4 and (capacity < MAX_BUFFER or capacity == size):
                grown = _take_buffer(capacity * 2)
                grown[:size] = view[:size]
                _give_back(view)
                view = self._view = grown
                # The reader lags: take a buffer of this size next time too
                # (a pooled one, when free), instead of growing it again.
                if self._capacity < capacity * 2:
                    self._capacity = min(capacity * 2, MAX_BUFFER)
        return view[end:]

    def _release_buffer(self) -> None:
        """The reader emptied the buffer: give it back to its pool.

        The stream's next buffer is the size this one grew to (see
        `get_buffer` and `buffer_updated`: a bulk transfer grows its buffer
        once, not on every wakeup of the loop) until a small read brings it
        back to the landing buffer.
        """
        self._chunk = None
        view = self._view
        self._view = None
        self._start = 0
        if view is not None:
            _give_back(view)

    def buffer_updated(self, nbytes: int) -> None:
        view = self._view
        if view is None:
            # The bytes are in the landing buffer (get_buffer returns it only
            # to a stream holding nothing).
            landing = _landing.view
            if nbytes < INITIAL_BUFFER:
                self._chunk = landing[:nbytes].tobytes()
            else:
                # Full: the peer is ahead. Keep the bytes where they are (no
                # copy of a bulk read), give the thread another landing
                # buffer, and take a larger one next time.
                self._view = landing
                _landing.view = _take_buffer(INITIAL_BUFFER)
                self._capacity = INITIAL_BUFFER * 2
        else:
            end = self._start + self.size
            capacity = len(view)
            if nbytes == capacity - end:
                # Filled the room it was given: the peer is ahead.
                if self._capacity <= capacity and capacity < HIGH_WATER:
                    self._capacity = capacity * 2
            elif not end and nbytes < INITIAL_BUFFER and self._capacity > INITIAL_BUFFER:
                # A fresh buffer that the landing buffer would have held
                # without filling: the peer is not ahead (any more). Halve
                # the next buffer rather than going back to the landing
                # buffer at once: under uvloop, one small read in a transfer
                # would otherwise cost the whole regrowth (copies of 64 KiB,
                # 128 KiB, ... within one wakeup); a stream that has gone
                # back to small reads is on the landing buffer in four.
                self._capacity >>= 1
        self.size += nbytes
        if self.size > HIGH_WATER and not self._read_paused:
            self._read_paused = True
            assert self.transport is not None
            self.transport.pause_reading()
        waiter = self._read_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def eof_received(self) -> bool:
        self._eof = True
        waiter = self._read_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        # Keep the transport open: a half-closed peer may still read what we
        # send (a TLS close_notify, the end of a request). close() closes it.
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if exc is not None and self.error is None:
            self.error = exc
        waiter = self._read_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._wake_writers()
        closed = self._closed
        if closed is not None and not closed.done():
            closed.set_result(None)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self._wake_writers()

    def _wake_writers(self) -> None:
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- reading -------------------------------------------------------------------

    def take(self, max_bytes: int) -> bytes:
        """Up to `max_bytes` buffered bytes (there must be some); copies only those."""
        start = self._start
        size = self.size
        count = size if size < max_bytes else max_bytes
        chunk = self._chunk
        if chunk is None:
            assert self._view is not None
            data = bytes(self._view[start : start + count])
        elif count == len(chunk):
            data = chunk  # a small read taken whole, ping-pong's every reply: no copy
        else:
            data = chunk[start : start + count]
        self.size = size = size - count
        if size:
            self._start = start + count
        else:
            self._release_buffer()
        if self._read_paused and size <= LOW_WATER:
            self._read_paused = False
            assert self.transport is not None
            self.transport.resume_reading()
        return data

    async def recv(self, max_bytes: int, op: Deadline | None) -> bytes:
        while not self.size:
            if self.error is not None:
                raise self.error
            if self._eof or self.lost:
                return b""
            waiter = self._loop.create_future()
            if op is not None:
                op.arm(waiter)
            self._read_waiter = waiter
            try:
                await waiter
            finally:
                self._read_waiter = None
                if op is not None:
                    op.disarm()
        return self.take(max_bytes)

    def recv_nowait(self, max_bytes: int) -> bytes | None:
        if self.size:
            return self.take(max_bytes)
        if self.error is not None:
            raise self.error
        if self._eof or self.lost:
            return b""
        return None

    def at_eof(self) -> bool:
        """Whether the peer's end of stream (or an error) is all that is left."""
        return not self.size and (self._eof or self.lost)

    def has_buffered(self) -> bool:
        return self.size > 0

    # -- writing -------------------------------------------------------------------

    def send_nowait(self, data: bytes | memoryview) -> None:
        transport = self.transport
        assert transport is not None
        if self.lost or transport.is_closing():
            raise self.error if isinstance(self.error, OSError) else _connection_closed()
        transport.write(data)

    async def send(self, data: bytes | memoryview, op: Deadline | None) -> None:
        transport = self.transport
        assert transport is not None
        if len(data) <= WRITE_SLICE:
            self.send_nowait(data)
            if self.write_paused or transport.is_closing():
                await self.drain(op)
            return
        view = memoryview(data)
        for start in range(0, len(view), WRITE_SLICE):
            self.send_nowait(view[start : start + WRITE_SLICE])
            if self.write_paused or transport.is_closing():
                await self.drain(op)

    async def drain(self, op: Deadline | None) -> None:
        """Wait until the transport has handed every byte to the kernel.

        Also the way a failed write is heard of: when the kernel refuses the
        bytes (`EPIPE`, `ECONNRESET`), the transport only marks itself
        closing, and tells the protocol why on the loop's next iteration
        (`connection_lost`). Waiting for that turns the failure into this
        write's exception, instead of a later read's end of stream.
        """
        transport = self.transport
        assert transport is not None
        while (self.write_paused or transport.is_closing()) and not self.lost:
            waiter = self._loop.create_future()
            if op is not None:
                op.arm(waiter)
            self._drain_waiters.append(waiter)
            try:
                await waiter
            finally:
                self._drain_waiters.remove(waiter)
                if op is not None:
                    op.disarm()
        if self.lost:
            # The transport went away before it had sent everything.
            raise self.error if isinstance(self.error, OSError) else _connection_closed()

    # -- closing -------------------------------------------------------------------

    def close(self) -> None:
        """Close the transport; at once (abort) if bytes are still waiting to go.

        Only a close_notify can be waiting here (`send` returns when all its
        bytes reached the kernel): dropping it beats waiting on a peer that
        does not read.
        """
        transport = self.transport
        assert transport is not None
        if transport.get_write_buffer_size():
            transport.abort()
        else:
            transport.close()

    def abort(self) -> None:
        """Close the transport at once, discarding anything not yet sent."""
        assert self.transport is not None
        self.transport.abort()

    async def wait_closed(self) -> None:
        """Until the loop has let go of the socket (its descriptor is closed)."""
        if self.lost:
            return
        if self._closed is None:
            self._closed = self._loop.create_future()
        await self._closed


class TLSLayer:
    """TLS over another layer: the core's `TLSEngine`, fed from the layer below.

    The engine decides everything TLS (handshake, decrypted data or "need
    data", close_notify or a truncated stream as the end of the stream); this
    layer only moves its bytes and waits. Bytes taken from the layer below go
    into the engine before anything is awaited again, so a timeout or a
    cancellation between two waits loses nothing: the next call carries on
    from there.
    """

    __slots__ = ("engine", "lower")

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

    async def _flush(self, op: Deadline | None) -> None:
        pending = self.engine.data_to_send()
        if pending:
            await self.lower.send(pending, op)

    def _flush_nowait(self) -> None:
        pending = self.engine.data_to_send()
        if pending:
            self.lower.send_nowait(pending)

    async def handshake(self, op: Deadline | None) -> None:
        engine = self.engine
        while not engine.do_handshake():
            await self._flush(op)
            engine.receive(await self.lower.recv(TLS_CHUNK, op))
        await self._flush(op)

    def _try_read(self, max_bytes: int) -> bytes | None:
        """Decrypted bytes, `b""` at end of stream, `None` when more must come from below."""
        engine = self.engine
        data = engine.read(max_bytes)
        if engine.outgoing.pending:
            self._flush_nowait()  # reading produced an answer (key update)
        return data

    async def recv(self, max_bytes: int, op: Deadline | None) -> bytes:
        while (data := self._try_read(max_bytes)) is None:
            self.engine.receive(await self.lower.recv(TLS_CHUNK, op))
        return data

    def recv_nowait(self, max_bytes: int) -> bytes | None:
        while (data := self._try_read(max_bytes)) is None:
            raw = self.lower.recv_nowait(TLS_CHUNK)
            if raw is None:
                return None
            self.engine.receive(raw)
        return data

    async def send(self, data: bytes | memoryview, op: Deadline | None) -> None:
        write = self.engine.write
        view = memoryview(data)
        while view:
            written = write(view[:TLS_CHUNK])
            view = view[written:]
            await self._flush(op)

    def send_nowait(self, data: bytes) -> None:
        self.engine.write(data)
        self._flush_nowait()

    def has_buffered(self) -> bool:
        return self.engine.has_buffered() or self.lower.has_buffered()

    def close_notify(self) -> None:
        """Send our close_notify if it can go without waiting; never wait for the peer's."""
        self.engine.close_notify()
        with contextlib.suppress(OSError, ValueError):
            self._flush_nowait()
