"""asyncio and uvloop: Happy Eyeballs, resolvers, connection options, UNIX sockets,
wrapping a socket, and cancelled connects."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys

import pytest

import netbase
import servers
from helpers import PROMPT, read_exactly, stopwatch

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

pytestmark = pytest.mark.runtimes("asyncio", "uvloop")


class StubResolver:
    """Answers every name with fixed addresses; never asks the network."""

    def __init__(self, *addresses, error=None, stall=False):
        self.addresses = list(addresses)
        self.error = error
        self.stall = stall
        self.calls = []

    async def resolve(self, host, port):
        self.calls.append((host, port))
        if self.stall:
            await asyncio.sleep(3600)
        if self.error is not None:
            raise self.error
        return self.addresses


@contextlib.contextmanager
def listener(host, port=0):
    """A listening socket that never accepts: the kernel completes connections anyway."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.bind((host, port))
    sock.listen(8)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


# -- Happy Eyeballs -----------------------------------------------------------------------


async def test_next_attempt_starts_after_the_delay(runtime, full_backlog):
    hanging_host, port = full_backlog
    with listener("127.0.0.2", port):
        net = runtime.backend(
            resolver=StubResolver(hanging_host, "127.0.0.2"), happy_eyeballs_delay=0.3
        )
        with stopwatch() as watch:
            async with await net.connect("example.test", port) as stream:
                assert stream.get_extra_info("server_addr") == ("127.0.0.2", port)
        assert 0.25 <= watch.seconds < 0.3 + PROMPT


async def test_a_failed_attempt_starts_the_next_at_once(runtime):
    port = servers.unused_port()  # refused on 127.0.0.1
    with listener("127.0.0.2", port):
        net = runtime.backend(
            resolver=StubResolver("127.0.0.1", "127.0.0.2"), happy_eyeballs_delay=30
        )
        with stopwatch() as watch:
            async with await net.connect("example.test", port) as stream:
                assert stream.get_extra_info("server_addr") == ("127.0.0.2", port)
        assert watch.seconds < PROMPT


async def test_families_are_interleaved_on_loopback(runtime, echo_server):
    # localhost answered with both families, only IPv4 listening: ::1 is
    # refused and 127.0.0.1 wins, at once.
    net = runtime.backend(resolver=StubResolver("::1", "::1", "127.0.0.1"))
    with stopwatch() as watch:
        async with await net.connect("localhost", echo_server.port) as stream:
            assert stream.get_extra_info("server_addr") == ("127.0.0.1", echo_server.port)
            await stream.write(b"he")
            assert await read_exactly(stream, 2) == b"he"
    assert watch.seconds < PROMPT


async def test_delay_none_tries_one_address_after_another(runtime, full_backlog):
    hanging_host, port = full_backlog
    with listener("127.0.0.2", port):
        net = runtime.backend(
            resolver=StubResolver(hanging_host, "127.0.0.2"), happy_eyeballs_delay=None
        )
        # The second address would answer, but it is only tried once the first
        # has failed, and the first hangs until the deadline.
        with pytest.raises(netbase.ConnectTimeout):
            async with netbase.timeout(0.6):
                await net.connect("example.test", port)


async def test_the_whole_race_is_under_one_deadline(runtime, full_backlog):
    hanging_host, port = full_backlog
    net = runtime.backend(
        resolver=StubResolver(hanging_host, hanging_host, hanging_host), happy_eyeballs_delay=0.1
    )
    with stopwatch() as watch, pytest.raises(netbase.ConnectTimeout) as info:
        async with netbase.timeout(0.5):
            await net.connect("example.test", port)
    assert 0.45 <= watch.seconds < 0.5 + PROMPT
    assert "example.test" in str(info.value)


async def test_every_attempt_refused_names_each_address(runtime):
    port = servers.unused_port()
    net = runtime.backend(resolver=StubResolver("127.0.0.1", "::1"))
    with pytest.raises(netbase.ConnectError) as info:
        await net.connect("example.test", port)
    message = str(info.value)
    assert f"example.test:{port}" in message
    assert f"127.0.0.1:{port}" in message
    assert f"[::1]:{port}" in message
    group = info.value.__cause__  # both failures kept, in the order of the attempts
    assert isinstance(group, BaseExceptionGroup)
    assert [type(e) for e in group.exceptions] == [ConnectionRefusedError] * 2


# -- resolvers ------------------------------------------------------------------------


async def test_resolver_errors_are_connect_errors_naming_the_host(runtime):
    net = runtime.backend(resolver=StubResolver(error=socket.gaierror(-2, "Name unknown")))
    with pytest.raises(netbase.ConnectError) as info:
        await net.connect("nowhere.test", 80)
    assert "nowhere.test:80" in str(info.value)
    assert isinstance(info.value.__cause__, socket.gaierror)

    net = runtime.backend(resolver=StubResolver())
    with pytest.raises(netbase.ConnectError, match=r"nowhere\.test:80.*no address"):
        await net.connect("nowhere.test", 80)


async def test_a_stalled_resolver_is_bounded_by_the_deadline(runtime):
    resolver = StubResolver(stall=True)
    net = runtime.backend(resolver=resolver)
    with stopwatch() as watch, pytest.raises(netbase.ConnectTimeout, match="resolving"):
        async with netbase.timeout(0.3):
            await net.connect("slow.test", 80)
    assert watch.seconds < 0.3 + PROMPT
    assert resolver.calls == [("slow.test", 80)]


async def test_ip_literals_skip_the_resolver(runtime, echo_server):
    resolver = StubResolver(error=AssertionError("not called"))
    net = runtime.backend(resolver=resolver)
    async with await net.connect("127.0.0.1", echo_server.port):
        pass
    assert resolver.calls == []


async def test_a_sync_resolver_is_a_clear_type_error(runtime):
    class SyncResolver:
        def resolve(self, host, port):
            return ["127.0.0.1"]

    net = runtime.backend(resolver=SyncResolver())
    with pytest.raises(TypeError, match="coroutine"):
        await net.connect("example.test", 80)


async def test_system_resolver_resolves_localhost(runtime):
    import netbase_asyncio

    async with netbase.timeout(5):
        addresses = await netbase_asyncio.SystemResolver().resolve("localhost", 80)
    assert set(addresses) & {"127.0.0.1", "::1"}


# -- options --------------------------------------------------------------------------


async def test_local_address_is_the_source(runtime, echo_server):
    net = runtime.backend(local_address="127.0.0.3")
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        assert stream.get_extra_info("client_addr")[0] == "127.0.0.3"


async def test_local_address_of_the_other_family_is_a_connect_error(runtime, echo_server):
    net = runtime.backend(local_address="::1")
    with pytest.raises(netbase.ConnectError, match="family"):
        await net.connect(echo_server.host, echo_server.port)


async def test_a_local_address_that_is_not_local_is_a_connect_error(runtime, echo_server):
    net = runtime.backend(local_address="192.0.2.1")  # TEST-NET-1: on no interface here
    with pytest.raises(netbase.ConnectError) as info:
        await net.connect(echo_server.host, echo_server.port)
    assert isinstance(info.value.__cause__, OSError)


async def test_socket_options_are_applied(runtime, echo_server):
    net = runtime.backend(
        socket_options=[(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)], happy_eyeballs_delay=0.1
    )
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        sock = stream.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


async def test_a_bad_socket_option_fails_with_no_socket_left(runtime, echo_server):
    net = runtime.backend(socket_options=[(socket.SOL_SOCKET, 987654, 1)])
    with pytest.raises(netbase.ConnectError) as info:
        await net.connect(echo_server.host, echo_server.port)
    assert isinstance(info.value.__cause__, OSError)


# -- UNIX sockets and wrapping a socket ---------------------------------------------------


async def test_connect_unix(runtime, net, unix_echo_server, server_context, client_context):
    path = unix_echo_server.address
    async with await net.connect_unix(path) as stream:
        assert repr(stream) == f'<NetworkStream ["{path}"]>'
        assert stream.get_extra_info("server_addr") == path
        await stream.write(b"unix")
        assert await read_exactly(stream, 4) == b"unix"


async def test_connect_unix_with_tls_and_deadlines(
    runtime, net, tmp_path, server_context, client_context
):
    path = str(tmp_path / "tls.sock")
    server = servers.Server(servers.echo, unix_path=path, tls=server_context, name="test-unix-tls")
    try:
        async with await net.connect_unix(path) as stream:
            async with netbase.timeout(5):
                await stream.start_tls(client_context, hostname="localhost")
            assert repr(stream) == f'<NetworkStream ["{path}" TLS]>'
            with pytest.raises(netbase.ReadTimeout):
                async with netbase.timeout(0.1):
                    await stream.read()
            await stream.write(b"over unix")
            assert await read_exactly(stream, 9) == b"over unix"
    finally:
        server.wait_idle(5)
        server.close()


async def test_connect_unix_errors(runtime, net, tmp_path):
    with pytest.raises(netbase.ConnectError) as info:
        await net.connect_unix(tmp_path / "missing.sock")
    assert isinstance(info.value.__cause__, FileNotFoundError)
    with pytest.raises(ValueError, match="longer"):
        await net.connect_unix("/tmp/" + "x" * 200)
    with pytest.raises(TypeError):
        await net.connect_unix(42)


async def test_from_socket_wraps_a_connected_socket(runtime, echo_server):
    import netbase_asyncio

    sock = socket.create_connection((echo_server.host, echo_server.port))
    stream = await netbase_asyncio.NetworkStream.from_socket(sock)
    async with stream:
        assert stream.get_extra_info("socket") is sock
        assert repr(stream) == f'<NetworkStream ["127.0.0.1:{echo_server.port}"]>'
        await stream.write(b"wrapped")
        assert await read_exactly(stream, 7) == b"wrapped"
    assert sock.fileno() == -1  # the stream owned it and closed it


async def test_from_socket_rejects_bad_sockets(runtime):
    import netbase_asyncio

    NetworkStream = netbase_asyncio.NetworkStream
    with pytest.raises(TypeError):
        await NetworkStream.from_socket("127.0.0.1:80")
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
        pytest.raises(ValueError, match="SOCK_STREAM"),
    ):
        await NetworkStream.from_socket(udp)
    with socket.socket() as unconnected, pytest.raises(ValueError, match="connected"):
        await NetworkStream.from_socket(unconnected)


# -- cancellation -------------------------------------------------------------------------


async def _cancelled(coro, after):
    task = asyncio.ensure_future(coro)
    await asyncio.sleep(after)
    task.cancel()
    with pytest.raises(asyncio.CancelledError) as info:
        await task
    assert type(info.value) is asyncio.CancelledError


async def test_cancelled_connect_leaves_no_socket(runtime, net, full_backlog):
    host, port = full_backlog
    await _cancelled(net.connect(host, port), 0.1)


async def test_a_connect_under_a_deadline_runs_in_the_calling_task(runtime, net, full_backlog):
    """No task of its own; a cancellation from outside stays a cancellation, not a timeout."""
    host, port = full_backlog
    before = asyncio.all_tasks()

    async def connect_under_deadline():
        async with netbase.timeout(10):
            await net.connect(host, port)

    task = asyncio.ensure_future(connect_under_deadline())
    await asyncio.sleep(0.1)
    assert asyncio.all_tasks() - before == {task}
    task.cancel()
    with pytest.raises(asyncio.CancelledError) as info:
        await task
    assert type(info.value) is asyncio.CancelledError
    if sys.version_info >= (3, 11):
        assert task.cancelling() == 1  # the outside one, counted once


def _sockets():
    """The process's open sockets, by inode."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # (listdir's own descriptor is gone)
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:"):
                found.add(target)
    return found


@pytest.mark.parametrize("options", ["loop", "own socket"])
async def test_a_deadline_during_the_connect_closes_its_socket(runtime, full_backlog, options):
    """ConnectTimeout with its cause; the socket is closed; the task is not left cancelled."""
    host, port = full_backlog
    socket_options = [] if options == "loop" else [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    net = runtime.backend(socket_options=socket_options)
    sockets = _sockets()
    with stopwatch() as watch, pytest.raises(netbase.ConnectTimeout) as info:
        async with netbase.timeout(0.2):
            await net.connect(host, port)
    assert 0.15 <= watch.seconds < 0.2 + PROMPT
    assert info.value.__cause__ is not None
    assert type(info.value.__cause__).__name__ == "Expired"
    await asyncio.sleep(0.05)  # the loop closes a transport's socket on its next step
    assert _sockets() <= sockets
    task = asyncio.current_task()
    if sys.version_info >= (3, 11):
        assert task.cancelling() == 0  # the deadline's cancellation was taken back
    await asyncio.sleep(0.01)  # and none is pending


@pytest.mark.runtimes("asyncio")  # only the default loop lets a test wrap its call_at
async def test_a_cancellation_in_the_step_the_deadline_fires_is_a_cancellation(
    runtime, full_backlog, monkeypatch
):
    """The deadline's timer and an outside cancel at once: 3.11+ tells them apart.

    3.10 cannot count cancellations, and takes the outside one for the timer's.
    """
    host, port = full_backlog
    net = runtime.backend()
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    call_at = loop.call_at

    def cancel_with_the_timer(when, callback, *args, **kwargs):
        monkeypatch.undo()  # only the deadline's timer
        handle = call_at(when, callback, *args, **kwargs)
        call_at(when, task.cancel)  # runs right after it, in the same step
        return handle

    expected = asyncio.CancelledError if sys.version_info >= (3, 11) else netbase.ConnectTimeout
    with pytest.raises(expected):
        async with netbase.timeout(0.1):
            monkeypatch.setattr(loop, "call_at", cancel_with_the_timer)
            await net.connect(host, port)
    if sys.version_info >= (3, 11):
        assert task.uncancel() == 0  # the outside cancellation, counted once


async def test_cancelled_race_leaves_no_socket_and_no_task(runtime, full_backlog):
    host, port = full_backlog
    net = runtime.backend(resolver=StubResolver(host, host, host), happy_eyeballs_delay=0.05)

    async def connect_under_deadline():
        async with netbase.timeout(10):
            await net.connect("example.test", port)

    await _cancelled(connect_under_deadline(), 0.2)  # three attempts in flight


async def test_cancelled_resolution_is_not_a_timeout(runtime):
    net = runtime.backend(resolver=StubResolver(stall=True))

    async def connect_under_deadline():
        async with netbase.timeout(10):
            await net.connect("example.test", 80)

    await _cancelled(connect_under_deadline(), 0.1)
