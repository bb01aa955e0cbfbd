"""Conformance: ``read``, ``write``, ``close`` and end of stream, on every runtime."""

from __future__ import annotations

import gc
import os
import threading
import time
import warnings

import pytest

import netbase
import servers
from helpers import PROMPT, random_chunks, random_payload, read_exactly, stopwatch


async def test_read_default_returns_at_most_65536(runtime, net, echo_server):
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        payload = random_payload(200_000)
        await stream.write(payload)
        got = b""
        while len(got) < len(payload):
            data = await stream.read()
            assert 1 <= len(data) <= 65536
            got += data
        assert got == payload


async def test_read_max_bytes_bounds_the_result(runtime, net, echo_server):
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        await stream.write(b"abcdefgh")
        first = await stream.read(3)
        assert 1 <= len(first) <= 3
        rest = await read_exactly(stream, 8 - len(first))
        assert first + rest == b"abcdefgh"
        await stream.write(b"xyz")
        assert await stream.read(max_bytes=1) == b"x"


@pytest.mark.parametrize("max_bytes", [10**12, 2**40, 2**63, 10**30])
async def test_read_with_a_huge_max_bytes_allocates_what_arrives(
    runtime, net, echo_server, tls_echo_server, client_context, max_bytes
):
    """``max_bytes`` bounds the result; it is not a buffer to allocate up front."""
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        await stream.write(b"hello")
        assert await read_exactly_with(stream, 5, max_bytes) == b"hello"
    async with await net.connect("127.0.0.1", tls_echo_server.port) as stream:
        await stream.start_tls(client_context, hostname="localhost")
        await stream.write(b"hello")
        assert await read_exactly_with(stream, 5, max_bytes) == b"hello"


async def read_exactly_with(stream, size, max_bytes):
    data = b""
    while len(data) < size:
        chunk = await stream.read(max_bytes)
        assert chunk, "unexpected end of stream"
        data += chunk
    return data


@pytest.mark.parametrize(
    ("max_bytes", "error"),
    [(0, ValueError), (-1, ValueError), (1.5, TypeError), ("10", TypeError), (True, TypeError)],
)
async def test_read_rejects_bad_max_bytes(runtime, net, echo_server, max_bytes, error):
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        with pytest.raises(error):
            await stream.read(max_bytes)
        # The stream is still usable: the check came before any I/O.
        await stream.write(b"ok")
        assert await stream.read() == b"ok"


@pytest.mark.parametrize("data", ["text", 42, None, [b"a"], object()])
async def test_write_rejects_non_bytes(runtime, net, echo_server, data):
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        with pytest.raises(TypeError):
            await stream.write(data)
        await stream.write(b"ok")
        assert await stream.read() == b"ok"


async def test_write_accepts_bytearray_and_memoryview(runtime, net, echo_server):
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        await stream.write(bytearray(b"array-"))
        await stream.write(memoryview(b"__view__")[2:6])
        assert await read_exactly(stream, 10) == b"array-view"


async def test_empty_write_is_harmless(runtime, net, echo_server):
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        await stream.write(b"")
        await stream.write(b"after")
        assert await stream.read() == b"after"


async def test_end_of_stream_is_empty_bytes_again_and_again(runtime, net):
    server = _send_then_close_server(b"goodbye")
    try:
        async with await net.connect(server.host, server.port) as stream:
            assert await read_exactly(stream, 7) == b"goodbye"
            assert await stream.read() == b""
            assert await stream.read() == b""
            assert await stream.read(10) == b""
    finally:
        server.wait_idle(5)
        server.close()


def _send_then_close_server(payload, tls=None, close_notify=True):
    import servers

    return servers.Server(
        servers.send_then_close(payload, close_notify=close_notify), tls=tls, name="test-once"
    )


async def test_integrity_under_random_chunking(runtime, net, echo_server):
    payload = random_payload(3 * 1024 * 1024, seed=7)

    async with await net.connect(echo_server.host, echo_server.port) as stream:

        async def writer():
            for chunk in random_chunks(payload, seed=8):
                await stream.write(chunk)

        async def reader():
            return await read_exactly(stream, len(payload), seed=9)

        _, echoed = await runtime.gather(writer, reader)
    assert echoed == payload


async def test_read_timeout_is_prompt_and_keeps_the_stream(runtime, net, echo_server):
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        with stopwatch() as watch, pytest.raises(netbase.ReadTimeout) as info:
            async with netbase.timeout(0.2):
                await stream.read()
        assert 0.15 <= watch.seconds < 0.2 + PROMPT
        assert isinstance(info.value, netbase.ReadError)
        assert isinstance(info.value, TimeoutError)
        assert "CLOSED" not in repr(stream)
        # Nothing was lost: a later read returns what arrives.
        await stream.write(b"still here")
        assert await read_exactly(stream, 10) == b"still here"


async def test_expired_deadline_fails_read_and_write_before_io(runtime, net, echo_server):
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        with pytest.raises(netbase.WriteTimeout):
            async with netbase.timeout(0):
                await stream.write(b"never sent")
        assert "CLOSED" in repr(stream)  # the contract: closed after a WriteTimeout
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        await stream.write(b"sent")
        await runtime.sleep(0.05)  # the echo is waiting to be read
        with pytest.raises(netbase.ReadTimeout):
            async with netbase.timeout(0):
                await stream.read()
        assert await stream.read() == b"sent"


async def test_write_deadline_bounds_the_whole_write(runtime, net):
    # The peer reads, slowly: every chunk makes progress, so a per-chunk
    # timeout would never fire. The deadline covers the whole write.
    import servers

    server = servers.Server(servers.slow_reader, name="test-slow")
    try:
        stream = await net.connect(server.host, server.port)
        try:
            with stopwatch() as watch, pytest.raises(netbase.WriteTimeout):
                async with netbase.timeout(0.5):
                    await stream.write(b"x" * (64 * 1024 * 1024))
            assert watch.seconds < 0.5 + PROMPT
            assert "CLOSED" in repr(stream)
        finally:
            await stream.close()
    finally:
        server.wait_idle(5)
        server.close()


async def test_write_timeout_closes_the_stream(runtime, net):
    import threading

    import servers

    gate = threading.Event()
    server = servers.Server(servers.stall_until(gate), name="test-stall")
    try:
        stream = await net.connect(server.host, server.port)
        try:
            with stopwatch() as watch, pytest.raises(netbase.WriteTimeout) as info:
                async with netbase.timeout(0.3):
                    await stream.write(b"x" * (16 * 1024 * 1024))
            assert watch.seconds < 0.3 + PROMPT
            assert isinstance(info.value, netbase.WriteError)
            assert "CLOSED" in repr(stream)
            with pytest.raises(netbase.NetworkError, match="closed"):
                await stream.write(b"more")
        finally:
            await stream.close()
    finally:
        gate.set()
        server.wait_idle(5)
        server.close()


async def test_reset_while_reading_is_read_error_and_closes(runtime, net, reset_server):
    stream = await net.connect(reset_server.host, reset_server.port)
    try:
        await stream.write(b"12345")
        with pytest.raises(netbase.ReadError) as info:
            async with netbase.timeout(5):
                while await stream.read():
                    pass
                raise AssertionError("a reset must not look like end of stream")
        assert not isinstance(info.value, netbase.TimeoutError)
        assert isinstance(info.value.__cause__, OSError)
        assert not isinstance(info.value.__cause__, netbase.NetworkError)
        assert "CLOSED" in repr(stream)
        # Broken, not closed by the caller: the next call says which.
        with pytest.raises(netbase.ReadError, match=r"is closed \(broken by an earlier failure\)"):
            await stream.read()
        with pytest.raises(netbase.WriteError, match=r"is closed \(broken"):
            await stream.write(b"x")
    finally:
        await stream.close()
    # Closed by the caller since: from then on it says only that.
    with pytest.raises(netbase.ReadError, match=r"is closed$"):
        await stream.read()


async def test_write_after_reset_is_write_error(runtime, net, reset_server):
    stream = await net.connect(reset_server.host, reset_server.port)
    try:
        await stream.write(b"12345")
        await runtime.sleep(0.1)  # the reset arrives
        with pytest.raises(netbase.WriteError) as info:
            async with netbase.timeout(5):
                for _ in range(100):
                    await stream.write(b"x" * 65536)
                    await runtime.sleep(0.01)
        assert not isinstance(info.value, netbase.TimeoutError)
        assert isinstance(info.value.__cause__, OSError)
        assert "CLOSED" in repr(stream)
    finally:
        await stream.close()


async def test_close_is_idempotent(runtime, net, echo_server):
    stream = await net.connect(echo_server.host, echo_server.port)
    await stream.close()
    await stream.close()
    assert repr(stream).endswith(" CLOSED]>")


async def test_closed_stream_says_so(runtime, net, echo_server):
    stream = await net.connect(echo_server.host, echo_server.port)
    await stream.close()
    with pytest.raises(netbase.NetworkError, match="closed"):
        await stream.read()
    with pytest.raises(netbase.NetworkError, match="closed"):
        await stream.write(b"x")
    with pytest.raises(netbase.NetworkError, match="closed"):
        await stream.start_tls()


async def test_context_manager_closes(runtime, net, echo_server):
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        pass
    assert repr(stream).endswith(" CLOSED]>")
    with pytest.raises(ZeroDivisionError):
        async with await net.connect(echo_server.host, echo_server.port) as stream:
            1 / 0  # noqa: B018
    assert repr(stream).endswith(" CLOSED]>")


async def test_one_reader_and_one_writer_at_once(runtime, net, echo_server):
    # Streams are not locked, but one reader and one writer may run together.
    payload = random_payload(1024 * 1024, seed=3)
    async with await net.connect(echo_server.host, echo_server.port) as stream:

        async def writer():
            for chunk in random_chunks(payload, seed=4, most=5000):
                async with netbase.timeout(10):
                    await stream.write(chunk)

        async def reader():
            async with netbase.timeout(10):
                return await read_exactly(stream, len(payload), seed=5)

        _, echoed = await runtime.gather(writer, reader)
    assert echoed == payload


async def test_a_stream_dropped_without_close_warns_once_and_frees_its_socket(
    runtime, net, echo_server
):
    """As an unclosed socket does: a ResourceWarning, and the descriptor is freed."""
    active = echo_server.active
    stream = await net.connect(echo_server.host, echo_server.port)
    await stream.write(b"x")
    assert await stream.read() == b"x"
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        del stream
        gc.collect()
        # The server sees the connection end once our descriptor is closed.
        deadline = time.monotonic() + 5
        while echo_server.active > active:
            assert time.monotonic() < deadline, "the dropped stream's socket is still open"
            await runtime.sleep(0.01)
        gc.collect()
    assert len([w for w in record if issubclass(w.category, ResourceWarning)]) == 1


def _still_open(fd: int, inode: int) -> bool:
    try:
        return os.fstat(fd).st_ino == inode
    except OSError:
        return False


@pytest.mark.async_only
async def test_concurrent_closes_each_return_once_the_socket_is_closed(runtime, net, echo_server):
    stream = await net.connect(echo_server.host, echo_server.port)
    fd = stream.get_extra_info("socket").fileno()
    inode = os.fstat(fd).st_ino

    async def close():
        await stream.close()
        return _still_open(fd, inode)

    assert await runtime.gather(close, close, close) == [False, False, False]


async def test_a_writer_woken_by_close_is_told_the_stream_is_closed(runtime, net):
    gate = threading.Event()
    peer = servers.Server(servers.stall_until(gate), name="stalled")
    try:
        stream = await net.connect(peer.host, peer.port)
        sent = [0]
        last = [-1, time.monotonic()]

        async def writer():
            with pytest.raises(netbase.WriteError) as info:
                while True:
                    await stream.write(b"x" * 65536)
                    sent[0] += 1
            return info.value

        async def closer():
            deadline = time.monotonic() + 60
            while True:  # until the writer is blocked: no progress for 0.3 s
                if sent[0] != last[0]:
                    last[:] = [sent[0], time.monotonic()]
                elif time.monotonic() - last[1] > 0.3:
                    break
                assert time.monotonic() < deadline
                await runtime.sleep(0.02)
            await stream.close()

        error, _ = await runtime.gather(writer, closer)
        assert "closed" in str(error)
        assert "Broken pipe" not in str(error)
    finally:
        gate.set()
        assert peer.wait_idle(10)
        peer.close()
