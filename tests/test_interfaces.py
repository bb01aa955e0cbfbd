"""The interfaces: what a custom backend gets for free, and what it must provide."""

from __future__ import annotations

import asyncio

import pytest

import netbase


class MemoryStream(netbase.NetworkStreamInterface):
    """A custom stream: reads back what was written."""

    def __init__(self) -> None:
        self.buffer = b""
        self.closed = False

    def read(self, max_bytes=None):
        data, self.buffer = self.buffer[: max_bytes or 65536], self.buffer[max_bytes or 65536 :]
        return data

    def write(self, data):
        self.buffer += bytes(data)

    def start_tls(self, ctx=None, hostname=None):
        raise NotImplementedError

    def close(self):
        self.closed = True


class AsyncMemoryStream(netbase.AsyncNetworkStreamInterface):
    def __init__(self) -> None:
        self.closed = False

    async def read(self, max_bytes=None):
        return b""

    async def write(self, data):
        pass

    async def start_tls(self, ctx=None, hostname=None):
        pass

    async def close(self):
        self.closed = True


def test_sync_stream_gets_context_management():
    with MemoryStream() as stream:
        stream.write(b"abc")
        assert stream.read() == b"abc"
    assert stream.closed
    assert stream.get_extra_info("anything") is None


def test_async_stream_gets_context_management():
    async def main():
        async with AsyncMemoryStream() as stream:
            assert stream.get_extra_info("is_readable") is None
        return stream

    assert asyncio.run(main()).closed


def test_missing_methods_are_an_error_at_construction():
    class Incomplete(netbase.NetworkStreamInterface):
        def read(self, max_bytes=None):
            return b""

    with pytest.raises(TypeError):
        Incomplete()

    class NoConnect(netbase.AsyncNetworkBackendInterface):
        pass

    with pytest.raises(TypeError):
        NoConnect()


def test_sync_backend_defaults_for_pools():
    class Backend(netbase.NetworkBackendInterface):
        def connect(self, host, port):
            return MemoryStream()

    backend = Backend()
    semaphore = backend.create_semaphore(1)
    semaphore.acquire()
    with pytest.raises(netbase.TimeoutError), netbase.timeout(0.05):
        semaphore.acquire()
    semaphore.release()
    with backend.create_lock():
        pass
    event = backend.create_event()
    event.set()
    event.wait()
    backend.sleep(0)
    with pytest.raises(TypeError):
        backend.create_semaphore(1.5)
    with pytest.raises(ValueError):
        backend.create_semaphore(-1)


@pytest.mark.async_only
async def test_async_backend_defaults_follow_the_running_library(runtime):
    class Backend(netbase.AsyncNetworkBackendInterface):
        async def connect(self, host, port):
            return AsyncMemoryStream()

    backend = Backend()
    semaphore = backend.create_semaphore(1)
    await semaphore.acquire()
    with pytest.raises(netbase.TimeoutError):
        async with netbase.timeout(0.05):
            await semaphore.acquire()
    semaphore.release()
    async with backend.create_lock():
        await backend.sleep(0)
    event = backend.create_event()
    event.set()
    await event.wait()


def test_async_defaults_outside_a_loop_say_so():
    class Backend(netbase.AsyncNetworkBackendInterface):
        async def connect(self, host, port):
            return AsyncMemoryStream()

    with pytest.raises(RuntimeError, match="no async library"):
        Backend().create_lock()
