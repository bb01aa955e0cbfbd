"""asyncio and uvloop: a stream holds a receive buffer only while it has unread bytes.

An idle stream must cost no more memory than an asyncio stream: the 64 KiB
buffer the loop reads into is taken when bytes arrive and given back when
the reader has emptied it.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from helpers import read_exactly

try:
    from netbase_asyncio import _transports
except ImportError:  # another runtime's session: these tests are deselected
    _transports = None

pytestmark = pytest.mark.runtimes("asyncio", "uvloop")


def buffer_of(stream):
    return stream._protocol._view


async def test_an_idle_stream_holds_no_buffer(runtime, net, echo_server):
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        assert buffer_of(stream) is None


async def test_the_buffer_goes_back_once_read_and_comes_back_for_the_next_bytes(
    runtime, net, echo_server
):
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        for _ in range(3):
            await stream.write(b"ping")
            assert await stream.read() == b"ping"
            assert buffer_of(stream) is None


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
        assert buffer_of(stream) is not None
        assert await read_exactly(stream, 990) == b"x" * 990
        assert buffer_of(stream) is None


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
        assert buffer_of(stream) is None


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
    raced = _RacedPool([memoryview(bytearray(_transports.INITIAL_BUFFER))])
    monkeypatch.setitem(_transports._POOLS, _transports.INITIAL_BUFFER, raced)
    protocol = _transports.StreamProtocol(asyncio.new_event_loop())
    try:
        view = protocol.get_buffer(-1)
    finally:
        protocol._loop.close()
    assert len(view) == _transports.INITIAL_BUFFER
