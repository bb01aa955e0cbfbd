"""trio only: netbase deadlines and trio cancel scopes compose; Cancelled is never converted."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import netbase
from helpers import PROMPT, stopwatch

pytestmark = pytest.mark.runtimes("trio")


async def test_trio_cancel_while_reading_stays_cancelled_and_keeps_the_stream(
    runtime, net, echo_server
):
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        with trio.move_on_after(0.1) as scope:
            await stream.read()
        assert scope.cancelled_caught  # a trio.Cancelled went through, unconverted
        assert "CLOSED" not in repr(stream)
        await stream.write(b"still here")
        assert await stream.read() == b"still here"


async def test_cancelled_is_not_a_netbase_error(runtime, net, echo_server):
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        with trio.CancelScope() as scope:
            scope.cancel()
            with pytest.raises(trio.Cancelled):
                await stream.read()
            with pytest.raises(trio.Cancelled):
                await stream.write(b"x")
            raise trio.Cancelled._create()  # let the scope swallow it, as trio does
        assert "CLOSED" not in repr(stream)  # cancelled before any byte went


async def test_earlier_trio_scope_wins_over_a_later_netbase_deadline(runtime, net, echo_server):
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        with stopwatch() as watch:
            with trio.move_on_after(0.1) as scope:
                async with netbase.timeout(5.0):
                    await stream.read()
        assert scope.cancelled_caught
        assert watch.seconds < 0.1 + PROMPT


async def test_earlier_netbase_deadline_wins_over_a_later_trio_scope(runtime, net, echo_server):
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        with trio.move_on_after(5.0) as scope:
            with pytest.raises(netbase.ReadTimeout):
                async with netbase.timeout(0.1):
                    await stream.read()
        assert not scope.cancelled_caught
        assert "CLOSED" not in repr(stream)


async def test_trio_cancel_during_connect_leaves_no_socket(runtime, net, full_backlog):
    host, port = full_backlog
    with stopwatch() as watch:
        with trio.move_on_after(0.1) as scope:
            await net.connect(host, port)
    assert scope.cancelled_caught
    assert watch.seconds < 0.1 + PROMPT  # the leak fixture checks the socket was closed


async def test_connect_is_a_checkpoint_even_when_it_completes_at_once(runtime, net, echo_server):
    with trio.testing.assert_checkpoints():
        stream = await net.connect(echo_server.host, echo_server.port)
    await stream.close()
    async with netbase.timeout(5.0):  # the deadline's path too
        with trio.testing.assert_checkpoints():
            stream = await net.connect(echo_server.host, echo_server.port)
    await stream.close()


async def test_connect_in_a_cancelled_scope_raises_cancelled_and_connects_nothing(
    runtime, net, echo_server
):
    accepted = echo_server.accepted
    with trio.CancelScope() as scope:
        scope.cancel()
        await net.connect(echo_server.host, echo_server.port)  # would connect at once
        pytest.fail("connect() did not raise trio.Cancelled")
    assert scope.cancelled_caught
    await trio.sleep(0.05)
    assert echo_server.accepted == accepted  # no socket was even made


async def test_earlier_trio_scope_wins_over_a_later_deadline_on_connect(runtime, net, full_backlog):
    host, port = full_backlog
    with stopwatch() as watch:
        with trio.move_on_after(0.1) as scope:
            async with netbase.timeout(5.0):
                await net.connect(host, port)
    assert scope.cancelled_caught  # a trio.Cancelled, not a ConnectTimeout
    assert watch.seconds < 0.1 + PROMPT


async def test_earlier_deadline_wins_over_a_later_trio_scope_on_connect(runtime, net, full_backlog):
    host, port = full_backlog
    with trio.move_on_after(5.0) as scope:
        with pytest.raises(netbase.ConnectTimeout, match="timed out connecting") as info:
            async with netbase.timeout(0.1):
                await net.connect(host, port)
    assert not scope.cancelled_caught
    assert info.value.host == host
    assert info.value.port == port


async def test_trio_cancel_during_a_happy_eyeballs_race_leaves_no_socket(runtime, full_backlog):
    address, port = full_backlog

    class Thrice:
        async def resolve(self, host: str, port: int) -> list[str]:
            return [address, address, address]

    net = runtime.backend(resolver=Thrice(), happy_eyeballs_delay=0.02)
    with trio.move_on_after(0.2) as scope:
        await net.connect("backlog.test", port)
    assert scope.cancelled_caught


async def test_trio_cancel_during_the_tls_handshake_closes_the_stream(
    runtime, net, silent_server, client_context
):
    async with await net.connect(silent_server.host, silent_server.port) as stream:
        with trio.move_on_after(0.1) as scope:
            await stream.start_tls(client_context, hostname="localhost")
        assert scope.cancelled_caught
        assert "CLOSED" in repr(stream)  # half a handshake: unusable


async def test_trio_cancel_in_the_middle_of_a_write_closes_the_stream(runtime, net):
    import threading

    import servers

    gate = threading.Event()
    server = servers.Server(servers.stall_until(gate), name="test-stall")
    try:
        async with await net.connect(server.host, server.port) as stream:
            with trio.move_on_after(0.2) as scope:
                await stream.write(b"x" * (64 * 1024 * 1024))  # more than the buffers hold
            assert scope.cancelled_caught
            assert "CLOSED" in repr(stream)  # part went: the stream is unusable
    finally:
        gate.set()
        server.wait_idle(5)
        server.close()


async def test_close_in_a_cancelled_scope_still_closes(runtime, net, echo_server):
    stream = await net.connect(echo_server.host, echo_server.port)
    with trio.CancelScope() as scope:
        scope.cancel()
        await stream.close()  # raises Cancelled after closing, like trio's aclose()
    assert scope.cancelled_caught
    assert "CLOSED" in repr(stream)


async def test_closing_wakes_a_blocked_reader_with_read_error(runtime, net, echo_server):
    stream = await net.connect(echo_server.host, echo_server.port)
    caught: list[BaseException] = []

    async def reader() -> None:
        try:
            await stream.read()
        except netbase.ReadError as exc:
            caught.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        await trio.testing.wait_all_tasks_blocked()
        await stream.close()
    assert len(caught) == 1
    assert not isinstance(caught[0], netbase.TimeoutError)
    assert isinstance(caught[0].__cause__, trio.ClosedResourceError)


async def test_every_operation_is_a_checkpoint(
    runtime, net, echo_server, tls_echo_server, client_context
):
    stream = await net.connect(echo_server.host, echo_server.port)
    with trio.testing.assert_checkpoints():
        await stream.write(b"ping")
    await trio.sleep(0.05)  # the echo is waiting: the read does not block
    with trio.testing.assert_checkpoints():
        assert await stream.read() == b"ping"
    with trio.testing.assert_checkpoints():
        await stream.close()
    tls = await net.connect(tls_echo_server.host, tls_echo_server.port)
    await tls.start_tls(client_context, hostname="localhost")
    with trio.testing.assert_checkpoints():
        await tls.write(b"ping")
    await trio.sleep(0.05)
    with trio.testing.assert_checkpoints():
        assert await tls.read() == b"ping"
    await tls.close()


async def test_primitives_waits_end_in_trio_cancellation_unconverted(runtime, net):
    semaphore = net.create_semaphore(0)
    event = net.create_event()
    async with netbase.timeout(5.0):  # later than the trio scopes: they win
        with trio.move_on_after(0.05) as scope:
            await semaphore.acquire()
        assert scope.cancelled_caught
        with trio.move_on_after(0.05) as scope:
            await event.wait()
        assert scope.cancelled_caught


async def test_from_socket_takes_a_trio_socket(runtime, echo_server):
    import netbase_trio

    tsock = trio.socket.socket()
    await tsock.connect((echo_server.host, echo_server.port))
    async with await netbase_trio.NetworkStream.from_socket(tsock) as stream:
        await stream.write(b"two")
        assert await stream.read() == b"two"
        assert stream.get_extra_info("server_addr") == (echo_server.host, echo_server.port)
    with pytest.raises(TypeError):
        await netbase_trio.NetworkStream.from_socket(object())  # type: ignore[arg-type]


async def test_a_tls_reader_with_bytes_to_send_leaves_them_to_a_suspended_writer(
    runtime, net, tls_echo_server, client_context
):
    """A reader with bytes to send (a key update's answer) while the writer is suspended
    sending: it reads on instead of waiting behind the writer (which waits for the peer
    to read, which waits for us to), and its record goes out whole, between the writer's."""
    payload = b"w" * (8 * 1024 * 1024)  # more than the socket buffers: the writer waits
    async with await net.connect(tls_echo_server.host, tls_echo_server.port) as stream:
        await stream.start_tls(client_context, hostname="localhost")
        layer = stream._top
        echoed = bytearray()
        async with netbase.timeout(20), trio.open_nursery() as nursery:
            nursery.start_soon(stream.write, payload)
            await trio.testing.wait_all_tasks_blocked()  # suspended in the middle of it
            layer.engine.write(b"tail")  # what reading produced, as a key update does
            with trio.testing.assert_no_checkpoints():
                await layer.flush(None)  # returns at once: the writer takes the bytes
            while len(echoed) < len(payload) + 4:
                echoed += await stream.read()
    assert echoed.count(b"tail") == 1
    assert echoed.replace(b"tail", b"") == payload


async def test_a_tls_writer_that_finds_the_reader_sending_waits_and_is_woken(
    runtime, net, tls_echo_server, client_context
):
    """The reader is suspended sending (a long answer), the writer comes: it waits for the
    reader's send, is woken when it ends, and its bytes follow."""
    flood = b"r" * (8 * 1024 * 1024)
    async with await net.connect(tls_echo_server.host, tls_echo_server.port) as stream:
        await stream.start_tls(client_context, hostname="localhost")
        layer = stream._top
        echoed = bytearray()
        async with netbase.timeout(20), trio.open_nursery() as nursery:

            async def reader_answering() -> None:
                layer.engine.write(flood)
                await layer.flush(None)

            nursery.start_soon(reader_answering)
            await trio.testing.wait_all_tasks_blocked()  # suspended sending the flood
            nursery.start_soon(stream.write, b"tail")
            await trio.testing.wait_all_tasks_blocked()  # parked behind it
            while len(echoed) < len(flood) + 4:
                echoed += await stream.read()
    assert bytes(echoed[-4:]) == b"tail"
    assert echoed[:-4] == flood
