"""The fault matrix: every misbehaviour of the fault peer, on every runtime.

Each test names its scenario, drives a stream against a :class:`FaultPeer`
running it and checks the outcome the contract promises: the right bytes, or
the right exception class with the native cause chained, within the deadline.
"""

from __future__ import annotations

import dataclasses

import figures
import pytest
from faultpeer import Scenario
from hostile_util import assert_chained, is_closed, read_until_error, write_until_error

import netbase
from helpers import PROMPT, read_exactly, stopwatch

# libuv (uvloop) arms timers in whole milliseconds against a loop time cached
# at the start of each iteration, so a deadline can fire a hair early there.
EARLY = 0.002


def tried(runtime, scenario: Scenario) -> None:
    figures.count("fault matrix (scenarios tried)", runtime.name, scenario.name)


async def eventually(runtime, predicate, within: float = 3.0) -> bool:
    """Poll ``predicate`` (the peer's view, which lags the client's) for a while."""
    for _ in range(int(within / 0.01)):
        if predicate():
            return True
        await runtime.sleep(0.01)
    return predicate()


# -- plain TCP -------------------------------------------------------------------


async def test_delayed_replies_arrive_within_the_deadline(runtime, net, fault_peer):
    scenario = Scenario("delay", delay=0.2)
    peer = fault_peer(scenario)
    async with await net.connect(peer.host, peer.port) as stream:
        with stopwatch() as sw:
            async with netbase.timeout(3.0):
                await stream.write(b"ping")
                assert await read_exactly(stream, 4) == b"ping"
        assert sw.seconds >= 0.2  # the peer really held it back
    tried(runtime, scenario)


async def test_delay_past_the_deadline_is_read_timeout_and_loses_nothing(runtime, net, fault_peer):
    scenario = Scenario("delay-expires", delay=0.5)
    peer = fault_peer(scenario)
    async with await net.connect(peer.host, peer.port) as stream:
        await stream.write(b"ping")
        with stopwatch() as sw, pytest.raises(netbase.ReadTimeout):
            async with netbase.timeout(0.1):
                await stream.read()
        assert 0.1 - EARLY <= sw.seconds < 0.1 + PROMPT
        assert not is_closed(stream)
        async with netbase.timeout(5.0):
            assert await read_exactly(stream, 4) == b"ping"
    tried(runtime, scenario)


async def test_trickled_bytes_arrive_whole_and_in_order(runtime, net, fault_peer):
    scenario = Scenario("trickle", trickle=0.002)
    peer = fault_peer(scenario)
    message = bytes(range(48, 48 + 60))
    async with await net.connect(peer.host, peer.port) as stream:
        await stream.write(message)
        reads = 0
        got = b""
        async with netbase.timeout(5.0):
            while len(got) < len(message):
                chunk = await stream.read()
                assert chunk
                got += chunk
                reads += 1
        assert got == message
        assert reads > 1  # it did come a byte at a time
    tried(runtime, scenario)


async def test_trickle_does_not_extend_the_deadline(runtime, net, fault_peer):
    """Each read makes progress, yet the one deadline bounds them all."""
    scenario = Scenario("trickle-deadline", trickle=0.02)
    peer = fault_peer(scenario)
    message = b"x" * 200  # 4 s at the peer's pace
    async with await net.connect(peer.host, peer.port) as stream:
        await stream.write(message)
        with stopwatch() as sw:
            async with netbase.timeout(0.3):
                got, exc = await read_until_error(stream)
        assert isinstance(exc, netbase.ReadTimeout), exc
        assert sw.seconds < 0.3 + PROMPT
        assert 0 < len(got) < len(message)
        assert message.startswith(got)
    tried(runtime, scenario)


async def test_stalled_peer_gives_read_timeout_and_the_stream_stays_open(runtime, net, fault_peer):
    scenario = Scenario("stall", stall_at=3)
    peer = fault_peer(scenario)
    async with await net.connect(peer.host, peer.port) as stream:
        await stream.write(b"hello")
        async with netbase.timeout(3.0):
            assert await read_exactly(stream, 3) == b"hel"
        with stopwatch() as sw, pytest.raises(netbase.ReadTimeout):
            async with netbase.timeout(0.2):
                await stream.read()
        assert sw.seconds < 0.2 + PROMPT
        assert not is_closed(stream)
        await stream.write(b"still writable")
    tried(runtime, scenario)


@pytest.mark.parametrize("at", [0, 3])
async def test_reset_at_a_byte_is_read_error_after_the_bytes_before_it(
    runtime, net, fault_peer, at
):
    scenario = Scenario(f"reset@{at}", reset_at=at)
    peer = fault_peer(scenario)
    stream = await net.connect(peer.host, peer.port)
    await stream.write(b"hello")
    async with netbase.timeout(3.0):
        got, exc = await read_until_error(stream)
    assert isinstance(exc, netbase.ReadError), exc
    assert not isinstance(exc, netbase.ReadTimeout)
    assert_chained(exc)
    assert got == b"hello"[:at]
    assert is_closed(stream)
    with pytest.raises(netbase.ReadError, match="closed"):
        await stream.read()
    await stream.close()
    tried(runtime, scenario)


async def test_writing_to_a_reset_peer_is_write_error(runtime, net, fault_peer):
    scenario = Scenario("reset-then-write", reset_at=0)
    peer = fault_peer(scenario)
    stream = await net.connect(peer.host, peer.port)
    await stream.write(b"x")  # the peer resets when it would answer this
    assert await eventually(runtime, lambda: any("reset" in e for e in peer.events))
    async with netbase.timeout(3.0):
        exc = await write_until_error(stream, b"y" * 65536)
    assert isinstance(exc, netbase.WriteError), exc
    assert not isinstance(exc, netbase.WriteTimeout)
    assert_chained(exc)
    assert is_closed(stream)
    await stream.close()
    tried(runtime, scenario)


async def test_half_close_reads_as_end_of_stream_and_writing_still_works(runtime, net, fault_peer):
    scenario = Scenario("half-close", fin_at=5)
    peer = fault_peer(scenario)
    async with await net.connect(peer.host, peer.port) as stream:
        await stream.write(b"hello world")
        async with netbase.timeout(3.0):
            assert await read_exactly(stream, 5) == b"hello"
            assert await stream.read() == b""
            assert await stream.read() == b""
        await stream.write(b"more")
        assert await eventually(runtime, lambda: peer.received_after_fin >= 4)
    assert peer.received_after_fin == 4  # exactly "more", after the FIN
    tried(runtime, scenario)


async def test_silent_peer_gives_read_timeout(runtime, net, fault_peer):
    scenario = Scenario("accept-never-speak", greeting="silent")
    peer = fault_peer(scenario)
    async with await net.connect(peer.host, peer.port) as stream:
        await stream.write(b"anyone there?")
        with stopwatch() as sw, pytest.raises(netbase.ReadTimeout):
            async with netbase.timeout(0.2):
                await stream.read()
        assert 0.2 - EARLY <= sw.seconds < 0.2 + PROMPT
        assert not is_closed(stream)
    tried(runtime, scenario)


async def test_peer_that_never_reads_gives_write_timeout_and_closes(runtime, net, fault_peer):
    scenario = Scenario("never-reads", read_input=False)
    peer = fault_peer(scenario)
    stream = await net.connect(peer.host, peer.port)
    with stopwatch() as sw, pytest.raises(netbase.WriteTimeout):
        async with netbase.timeout(0.3):
            await stream.write(b"z" * (64 * 1024 * 1024))
    assert sw.seconds < 0.3 + PROMPT
    assert is_closed(stream)  # part of the data may have gone: the stream is closed
    with pytest.raises(netbase.WriteError, match="closed"):
        await stream.write(b"more")
    await stream.close()
    tried(runtime, scenario)


# -- TLS ---------------------------------------------------------------------------


@pytest.fixture
def tls_scenario(server_context):
    def make(name: str, **kwargs) -> Scenario:
        return Scenario(name, tls=server_context, **kwargs)

    return make


async def tls_connect(net, peer):
    return await net.connect(peer.host, peer.port)


async def test_tls_with_delayed_flights_completes(
    runtime, net, fault_peer, tls_scenario, client_context
):
    scenario = tls_scenario("tls-delay", delay=0.05)
    peer = fault_peer(scenario)
    async with await tls_connect(net, peer) as stream, netbase.timeout(5.0):
        await stream.start_tls(client_context, hostname="localhost")
        await stream.write(b"ping")
        assert await read_exactly(stream, 4) == b"ping"
    tried(runtime, scenario)


async def test_tls_handshake_past_the_deadline_is_connect_timeout(
    runtime, net, fault_peer, tls_scenario, client_context
):
    scenario = tls_scenario("tls-delay-expires", delay=0.5)
    peer = fault_peer(scenario)
    stream = await tls_connect(net, peer)
    with stopwatch() as sw, pytest.raises(netbase.ConnectTimeout):
        async with netbase.timeout(0.1):
            await stream.start_tls(client_context, hostname="localhost")
    assert sw.seconds < 0.1 + PROMPT
    assert is_closed(stream)
    await stream.close()
    tried(runtime, scenario)


async def test_tls_trickled_a_byte_at_a_time(
    runtime, net, fault_peer, tls_scenario, client_context
):
    scenario = tls_scenario("tls-trickle", trickle=0.0002)
    peer = fault_peer(scenario)
    async with await tls_connect(net, peer) as stream, netbase.timeout(20.0):
        await stream.start_tls(client_context, hostname="localhost")
        await stream.write(b"every byte alone")
        assert await read_exactly(stream, 16) == b"every byte alone"
    tried(runtime, scenario)


@pytest.mark.parametrize("at", [0, 1, 5, 60, 300])
async def test_tls_reset_during_the_handshake_is_connect_error(
    runtime, net, fault_peer, tls_scenario, client_context, at
):
    scenario = tls_scenario(f"tls-reset-in-handshake@{at}", reset_at=at)
    peer = fault_peer(scenario)
    stream = await tls_connect(net, peer)
    with pytest.raises(netbase.ConnectError) as info:
        async with netbase.timeout(3.0):
            await stream.start_tls(client_context, hostname="localhost")
    assert not isinstance(info.value, netbase.ConnectTimeout)
    assert_chained(info.value)
    assert is_closed(stream)
    await stream.close()
    tried(runtime, scenario)


@pytest.mark.parametrize("at", [0, 40, 300])
async def test_tls_eof_during_the_handshake_is_connect_error(
    runtime, net, fault_peer, tls_scenario, client_context, at
):
    scenario = tls_scenario(f"tls-fin-in-handshake@{at}", fin_at=at)
    peer = fault_peer(scenario)
    stream = await tls_connect(net, peer)
    with pytest.raises(netbase.ConnectError) as info:
        async with netbase.timeout(3.0):
            await stream.start_tls(client_context, hostname="localhost")
    assert not isinstance(info.value, netbase.ConnectTimeout)
    assert_chained(info.value)
    assert is_closed(stream)
    tried(runtime, scenario)


async def test_tls_stall_during_the_handshake_is_connect_timeout(
    runtime, net, fault_peer, tls_scenario, client_context
):
    scenario = tls_scenario("tls-stall-in-handshake", stall_at=50)
    peer = fault_peer(scenario)
    stream = await tls_connect(net, peer)
    with stopwatch() as sw, pytest.raises(netbase.ConnectTimeout):
        async with netbase.timeout(0.3):
            await stream.start_tls(client_context, hostname="localhost")
    assert sw.seconds < 0.3 + PROMPT
    assert is_closed(stream)
    tried(runtime, scenario)


async def test_garbage_instead_of_a_server_hello_is_connect_error(
    runtime, net, fault_peer, client_context
):
    scenario = Scenario("tls-garbage-hello", greeting="garbage")
    peer = fault_peer(scenario)
    stream = await net.connect(peer.host, peer.port)
    with stopwatch() as sw, pytest.raises(netbase.ConnectError) as info:
        async with netbase.timeout(3.0):
            await stream.start_tls(client_context, hostname="localhost")
    assert sw.seconds < 1.0
    assert not isinstance(info.value, netbase.ConnectTimeout)
    assert_chained(info.value)
    assert is_closed(stream)
    tried(runtime, scenario)


async def test_tls_to_a_peer_that_never_speaks_is_connect_timeout(
    runtime, net, fault_peer, client_context
):
    scenario = Scenario("tls-accept-never-speak", greeting="silent")
    peer = fault_peer(scenario)
    stream = await net.connect(peer.host, peer.port)
    with stopwatch() as sw, pytest.raises(netbase.ConnectTimeout):
        async with netbase.timeout(0.2):
            await stream.start_tls(client_context, hostname="localhost")
    assert 0.2 - EARLY <= sw.seconds < 0.2 + PROMPT
    assert is_closed(stream)
    tried(runtime, scenario)


async def read_to_eof(stream) -> bytes:
    data = b""
    while chunk := await stream.read():
        data += chunk
    return data


@pytest.mark.parametrize("ending", ["close_notify", "fin"])
async def test_tls_close_with_or_without_close_notify_is_end_of_stream(
    runtime, net, fault_peer, tls_scenario, client_context, ending
):
    """A peer that just drops TCP after its data (no close_notify) ends the stream cleanly."""
    scenario = tls_scenario(f"tls-end-by-{ending}", payload=(b"hello", b"world"), after=ending)
    peer = fault_peer(scenario)
    async with await tls_connect(net, peer) as stream, netbase.timeout(3.0):
        await stream.start_tls(client_context, hostname="localhost")
        assert await read_to_eof(stream) == b"helloworld"
        assert await stream.read() == b""
    tried(runtime, scenario)


async def test_tls_truncated_record_delivers_the_whole_records_then_ends(
    runtime, net, fault_peer, tls_scenario, client_context
):
    """A record cut short by EOF is never delivered; the records before it are, in full."""
    scenario = tls_scenario(
        "tls-truncated-record", payload=(b"A" * 100, b"B" * 100), truncate=10, after="fin"
    )
    peer = fault_peer(scenario)
    async with await tls_connect(net, peer) as stream, netbase.timeout(3.0):
        await stream.start_tls(client_context, hostname="localhost")
        assert await read_exactly(stream, 100) == b"A" * 100
        # The peer closed without a closing handshake: end of stream (the
        # contract), and the partial record's bytes are never delivered.
        assert await stream.read() == b""
        assert await stream.read() == b""
    tried(runtime, scenario)


async def test_tls_reset_mid_record_is_read_error(
    runtime, net, fault_peer, tls_scenario, client_context
):
    scenario = tls_scenario(
        "tls-reset-mid-record", payload=(b"A" * 100, b"B" * 100), truncate=10, after="reset"
    )
    peer = fault_peer(scenario)
    async with await tls_connect(net, peer) as stream:
        async with netbase.timeout(3.0):
            await stream.start_tls(client_context, hostname="localhost")
            got, exc = await read_until_error(stream)
        assert isinstance(exc, netbase.ReadError), exc
        assert not isinstance(exc, netbase.ReadTimeout)
        assert_chained(exc)
        assert got == b"A" * 100
        assert is_closed(stream)
    tried(runtime, scenario)


async def test_tls_stall_mid_record_is_read_timeout_and_stays_open(
    runtime, net, fault_peer, tls_scenario, client_context
):
    scenario = tls_scenario(
        "tls-stall-mid-record", payload=(b"A" * 100, b"B" * 100), truncate=10, after="stall"
    )
    peer = fault_peer(scenario)
    async with await tls_connect(net, peer) as stream:
        async with netbase.timeout(3.0):
            await stream.start_tls(client_context, hostname="localhost")
            assert await read_exactly(stream, 100) == b"A" * 100
        with stopwatch() as sw, pytest.raises(netbase.ReadTimeout):
            async with netbase.timeout(0.2):
                await stream.read()
        assert sw.seconds < 0.2 + PROMPT
        assert not is_closed(stream)
    tried(runtime, scenario)


@pytest.mark.parametrize("deadline", [None, 0.2])
async def test_peer_vanishing_during_the_closing_handshake(
    runtime, net, fault_peer, tls_scenario, client_context, deadline
):
    """The client's close_notify makes the peer reset: close() neither raises nor hangs."""
    scenario = tls_scenario("tls-vanish-on-close", on_close_notify="vanish")
    peer = fault_peer(scenario)
    stream = await tls_connect(net, peer)
    async with netbase.timeout(3.0):
        await stream.start_tls(client_context, hostname="localhost")
        await stream.write(b"bye")
        assert await read_exactly(stream, 3) == b"bye"
    with stopwatch() as sw:
        if deadline is None:
            await stream.close()
        else:
            async with netbase.timeout(deadline):
                await stream.close()
    assert sw.seconds < (deadline or 1.0) + PROMPT
    assert is_closed(stream)
    await stream.close()  # idempotent
    # The close did attempt the closing handshake: the peer saw the close_notify.
    assert await eventually(runtime, lambda: "close_notify" in peer.events), peer.events
    tried(runtime, dataclasses.replace(scenario, name=f"{scenario.name}/{deadline}"))


@pytest.mark.parametrize("deadline", [None, 0.2])
async def test_peer_ignoring_the_closing_handshake(
    runtime, net, fault_peer, tls_scenario, client_context, deadline
):
    """The peer never answers the close_notify and stays connected: close() is bounded."""
    scenario = tls_scenario("tls-ignore-close-notify", on_close_notify="ignore")
    peer = fault_peer(scenario)
    stream = await tls_connect(net, peer)
    async with netbase.timeout(3.0):
        await stream.start_tls(client_context, hostname="localhost")
        await stream.write(b"bye")
        assert await read_exactly(stream, 3) == b"bye"
    with stopwatch() as sw:
        if deadline is None:
            await stream.close()
        else:
            async with netbase.timeout(deadline):
                await stream.close()
    assert sw.seconds < (deadline or 2.0) + PROMPT
    assert is_closed(stream)
    tried(runtime, dataclasses.replace(scenario, name=f"{scenario.name}/{deadline}"))


async def test_tls_write_to_a_peer_that_never_reads_is_a_prompt_write_timeout(
    runtime, net, fault_peer, tls_scenario, client_context
):
    """The deadline bounds the whole write, encryption included, however big the buffer."""
    scenario = tls_scenario("tls-never-reads", read_input=False)
    peer = fault_peer(scenario)
    stream = await tls_connect(net, peer)
    async with netbase.timeout(3.0):
        await stream.start_tls(client_context, hostname="localhost")
    data = b"z" * (64 * 1024 * 1024)
    with stopwatch() as sw, pytest.raises(netbase.WriteTimeout):
        async with netbase.timeout(0.3):
            await stream.write(data)
    figures.note(
        "fault matrix (scenarios tried)",
        f"{runtime.name}: 64 MiB TLS write under a 0.3 s deadline raised after {sw.seconds:.3f} s",
    )
    assert sw.seconds < 0.3 + PROMPT
    assert is_closed(stream)
    tried(runtime, scenario)
