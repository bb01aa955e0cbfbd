"""asyncio and uvloop: a stream holds a receive buffer only while it has unread bytes.

An idle stream must cost no more memory than an asyncio stream: the 64 KiB
buffer the loop reads into is taken when bytes arrive and given back when
the reader has emptied it.
"""

from __future__ import annotations

import asyncio

import pytest

from helpers import read_exactly

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
