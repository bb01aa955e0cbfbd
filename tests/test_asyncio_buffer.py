"""asyncio and uvloop: what a stream holds to receive into, and for how long.

An idle stream must cost no more memory than an asyncio stream: it holds
bytes only while they are unread. Small reads land in one buffer per thread
and are copied out at their size (thousands of streams readable at once must
not each take 64 KiB); a peer that fills the buffer it is given gets a larger
one next time, so a reader that keeps up does not wait on every read.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from helpers import random_payload, read_exactly

try:
    from netbase_asyncio import _transports
except ImportError:  # another runtime's session: these tests are deselected
    _transports = None

pytestmark = pytest.mark.runtimes("asyncio", "uvloop")


def buffer_of(stream):
    return stream._protocol._view


def held(stream):
    """What the stream keeps its unread bytes in: its own buffer, a copied-out read, or None."""
    protocol = stream._protocol
    return protocol._view if protocol._chunk is None else protocol._chunk


async def test_an_idle_stream_holds_no_buffer(runtime, net, echo_server):
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        assert held(stream) is None


async def test_a_ping_pong_receives_into_the_threads_one_landing_buffer(runtime, net, echo_server):
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        landing = _transports._landing.view
        for _ in range(3):
            await stream.write(b"ping")
            assert await stream.read() == b"ping"
            assert held(stream) is None
            assert stream._protocol._capacity == _transports.INITIAL_BUFFER
        assert _transports._landing.view is landing
        assert len(landing) == _transports.INITIAL_BUFFER


async def test_unread_bytes_keep_their_buffer(runtime, net, echo_server):
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        await stream.write(b"x" * 1000)
        assert await stream.read(10) == b"x" * 10
        # The rest of the echo may still be on its way: read the bytes that
        # are there without emptying the buffer, then empty it.
        for _ in range(100):
            if stream._protocol.size >= 990:
                break
            await asyncio.sleep(0.01)
        assert held(stream) is not None
        assert await read_exactly(stream, 990) == b"x" * 990
        assert held(stream) is None


async def test_a_grown_buffer_keeps_the_bytes_and_is_released_when_emptied(
    runtime, net, echo_server
):
    payload = bytes(range(256)) * 1024  # 256 KiB: more than one 64 KiB buffer
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        await stream.write(payload)
        for _ in range(200):
            if stream._protocol.size >= len(payload):
                break
            await asyncio.sleep(0.01)
        assert len(buffer_of(stream)) > 64 * 1024
        assert await read_exactly(stream, len(payload)) == payload
        assert held(stream) is None


def _receive(protocol, nbytes):
    """Do what the loop does when `nbytes` arrive: ask for a buffer, fill it, report."""
    buffer = protocol.get_buffer(-1)
    assert len(buffer) >= nbytes
    buffer[:nbytes] = b"z" * nbytes
    protocol.buffer_updated(nbytes)
    return len(buffer)


def test_a_receive_that_fills_its_buffer_gets_a_larger_one_next(runtime):
    protocol = _transports.StreamProtocol(asyncio.new_event_loop())
    protocol._loop.close()
    initial = _transports.INITIAL_BUFFER
    offered = []
    for _ in range(6):
        size = _receive(protocol, protocol.get_buffer(-1).nbytes)
        offered.append(size)
        # The reader takes it all, as a reader that keeps up does.
        assert len(protocol.take(size)) == size
        assert protocol._view is None
    # Doubling while the peer is ahead, up to the size at which a full buffer
    # does not yet pause reading.
    assert offered == [initial, 2 * initial, 4 * initial, 8 * initial, 8 * initial, 8 * initial]
    assert offered[-1] == _transports.HIGH_WATER


def test_a_transfer_that_ends_goes_back_to_the_landing_buffer(runtime):
    protocol = _transports.StreamProtocol(asyncio.new_event_loop())
    protocol._loop.close()
    initial = _transports.INITIAL_BUFFER
    for _ in range(3):
        size = _receive(protocol, protocol.get_buffer(-1).nbytes)
        protocol.take(size)
    assert protocol._capacity == 8 * initial
    # The transfer is over: each read that the landing buffer would have held
    # halves the next buffer, down to the landing buffer.
    for capacity in (4 * initial, 2 * initial, initial):
        assert len(protocol.get_buffer(-1)) == 2 * capacity
        _receive(protocol, 1000)
        assert protocol.take(65536) == b"z" * 1000
        assert protocol._view is None  # holds nothing
        assert protocol._chunk is None
        assert protocol._capacity == capacity
    assert protocol.get_buffer(-1) is _transports._landing.view


def test_a_small_read_is_copied_out_at_its_size(runtime):
    protocol = _transports.StreamProtocol(asyncio.new_event_loop())
    protocol._loop.close()
    landing = _transports._landing.view
    _receive(protocol, 300)
    assert protocol._view is None
    assert len(protocol._chunk) == 300
    # The landing buffer is free again at once: another stream's read does
    # not disturb the unread bytes.
    landing[:300] = b"q" * 300
    more = _receive(protocol, 200)  # before the reader came: into a buffer of its own
    assert more >= 200
    assert protocol._chunk is None
    assert protocol.take(65536) == b"z" * 500
    assert protocol._view is None


async def test_a_stream_goes_idle_after_a_bulk_transfer_holding_nothing(runtime, net, echo_server):
    payload = random_payload(2 * 1024 * 1024, seed=5)
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        write = asyncio.ensure_future(stream.write(payload))
        assert await read_exactly(stream, len(payload)) == payload
        await write
        assert held(stream) is None
        for _ in range(4):
            await stream.write(b"ping")
            assert await stream.read() == b"ping"
            assert held(stream) is None
        assert stream._protocol._capacity == _transports.INITIAL_BUFFER


def test_each_thread_receives_into_its_own_landing_buffer(runtime):
    views = []
    thread = threading.Thread(target=lambda: views.append(_transports._landing.view))
    thread.start()
    thread.join()
    assert views[0] is not _transports._landing.view


class _RacedPool(list):
    """A buffer pool that another thread's loop empties between a check and a pop.

    Looking at it (``bool(pool)``, ``len(pool)``) lets a second thread take
    the last buffer, as a thread switch right after the check would: the
    interleaving that aborts a connection with an ``IndexError`` in
    ``get_buffer`` when the pool is checked before it is popped.
    """

    def _race(self):
        thread = threading.Thread(target=lambda: list.pop(self) if list.__len__(self) else None)
        thread.start()
        thread.join()

    def __bool__(self):
        answer = list.__len__(self) > 0
        self._race()
        return answer

    def __len__(self):
        answer = list.__len__(self)
        self._race()
        return answer


def test_a_buffer_taken_by_another_thread_between_check_and_pop(runtime, monkeypatch):
    # A grown stream takes its buffers from the pools (a small one receives
    # into the landing buffer).
    size = 2 * _transports.INITIAL_BUFFER
    raced = _RacedPool([memoryview(bytearray(size))])
    monkeypatch.setitem(_transports._POOLS, size, raced)
    protocol = _transports.StreamProtocol(asyncio.new_event_loop())
    protocol._capacity = size
    try:
        view = protocol.get_buffer(-1)
    finally:
        protocol._loop.close()
    assert len(view) == size


def test_loops_in_two_threads_receive_at_once_without_mixing_bytes(runtime, echo_server):
    errors = []

    def converse(seed):
        async def talk():
            net = runtime.backend()
            async with await net.connect(echo_server.host, echo_server.port) as stream:
                for i in range(300):
                    message = bytes([seed, i % 256]) * (1 + i * 7919 % 30000)
                    await stream.write(message)
                    assert await read_exactly(stream, len(message)) == message

        try:
            runtime.run(talk)
        except BaseException as exc:  # reported by the test's thread below
            errors.append(exc)

    threads = [threading.Thread(target=converse, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
