"""Misuse: two readers, two writers, and the reader plus writer that must work.

The contract: a second ``read`` while a read is in progress on the same stream
(another task or thread), or a second ``write`` while a write is, raises
``RuntimeError`` at once, naming the conflict, and leaves the first call and
the stream alone; one reader plus one writer at a time is fully supported; no
call outlives its deadline. Each test runs every call under a deadline, on
every runtime (tasks on the async ones, threads on the threaded one).

Which of two callers is "second" is up to the scheduler (two threads may start
in either order), so the tests accept either, and require exactly one
``RuntimeError`` and one call that completes.
"""

from __future__ import annotations

import threading
import time

import pytest
from hostile_util import is_closed, until

import netbase
import servers
from helpers import PROMPT, random_payload, read_exactly

DEADLINE = 5.0


class Outcomes:
    """What each of two concurrent calls did, and how long it took."""

    def __init__(self) -> None:
        self.results: list[object] = []
        self.conflicts: list[tuple[RuntimeError, float]] = []

    async def call(self, operation, *args) -> None:
        start = time.monotonic()
        try:
            async with netbase.timeout(DEADLINE):
                self.results.append(await operation(*args))
        except RuntimeError as exc:
            self.conflicts.append((exc, time.monotonic() - start))


@pytest.fixture(params=["plain", "tls"])
def layer(request):
    return request.param


async def _open(net, layer, plain_server, tls_server, client_context):
    server = plain_server if layer == "plain" else tls_server
    stream = await net.connect(server.host, server.port)
    if layer == "tls":
        await stream.start_tls(client_context, hostname="localhost")
    return stream


async def test_a_second_reader_is_refused_at_once(
    runtime, net, layer, echo_server, tls_echo_server, client_context
):
    stream = await _open(net, layer, echo_server, tls_echo_server, client_context)
    async with stream:
        outcomes = Outcomes()

        async def reader():
            await outcomes.call(stream.read)

        async def writer():
            # Nothing is echoed until one reader has been refused: the other
            # is then still waiting, and must get the bytes.
            await until(runtime, lambda: outcomes.conflicts)
            async with netbase.timeout(DEADLINE):
                await stream.write(b"hello")

        await runtime.gather(reader, reader, writer)
        assert len(outcomes.conflicts) == 1, outcomes.results
        exc, seconds = outcomes.conflicts[0]
        assert "read()" in str(exc)
        assert "another" in str(exc)
        assert seconds < PROMPT
        assert outcomes.results == [b"hello"]
        # The stream carries on.
        assert not is_closed(stream)
        async with netbase.timeout(DEADLINE):
            await stream.write(b"again")
            assert await read_exactly(stream, 5) == b"again"


async def test_a_second_writer_is_refused_at_once(runtime, net):
    gate = threading.Event()
    server = servers.Server(servers.stall_until(gate), name="test-misuse")
    payload = b"x" * (32 * 1024 * 1024)  # more than the socket buffers hold
    try:
        async with await net.connect(server.host, server.port) as stream:
            outcomes = Outcomes()

            async def writer():
                await outcomes.call(stream.write, payload)

            async def opener():
                await until(runtime, lambda: outcomes.conflicts)
                gate.set()  # the peer reads again: the first write can finish

            await runtime.gather(writer, writer, opener)
            assert len(outcomes.conflicts) == 1
            exc, seconds = outcomes.conflicts[0]
            assert "write()" in str(exc)
            assert "another" in str(exc)
            assert seconds < PROMPT
            assert outcomes.results == [None]  # the first write sent everything
            assert not is_closed(stream)
            async with netbase.timeout(DEADLINE):
                await stream.write(b"more")
    finally:
        gate.set()
        server.wait_idle(5)
        server.close()


async def test_one_reader_and_one_writer_at_once(
    runtime, net, layer, echo_server, tls_echo_server, client_context
):
    payload = random_payload(2 * 1024 * 1024)
    stream = await _open(net, layer, echo_server, tls_echo_server, client_context)
    async with stream:
        got = []

        async def writer():
            async with netbase.timeout(DEADLINE * 2):
                await stream.write(payload)

        async def reader():
            async with netbase.timeout(DEADLINE * 2):
                got.append(await read_exactly(stream, len(payload)))

        await runtime.gather(writer, reader)
        assert got == [payload]
        assert not is_closed(stream)


async def test_a_refused_reader_leaves_a_reader_under_a_deadline_alone(runtime, net, echo_server):
    """The waiting reader's deadline still fires on time after a refused second reader."""
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        timeouts: list[float] = []
        refused: list[float] = []

        async def reader():
            start = time.monotonic()
            try:
                async with netbase.timeout(0.5):
                    await stream.read()
            except netbase.ReadTimeout:
                timeouts.append(time.monotonic() - start)
            except RuntimeError:
                refused.append(time.monotonic() - start)

        await runtime.gather(reader, reader)
        assert len(refused) == 1
        assert refused[0] < PROMPT
        assert len(timeouts) == 1
        assert timeouts[0] < 0.5 + PROMPT
        assert not is_closed(stream)
        async with netbase.timeout(DEADLINE):
            await stream.write(b"still here")
            assert await read_exactly(stream, 10) == b"still here"
