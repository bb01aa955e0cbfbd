"""trio only: connection options, async resolvers, Happy Eyeballs on loopback.

What the shared conformance suite does not cover (yet) for trio: the options
of ``NetworkBackend(...)``, the async resolver protocol and its failures, the
race in a nursery against a real listener.
"""

from __future__ import annotations

import socket

import pytest
import trio

import netbase

pytestmark = pytest.mark.runtimes("trio")


async def test_local_address_and_socket_options(runtime, echo_server):
    options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    net = runtime.backend(local_address="127.0.0.1", socket_options=options)
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        sock = stream.get_extra_info("socket")
        assert stream.get_extra_info("client_addr")[0] == "127.0.0.1"
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


async def test_happy_eyeballs_falls_back_to_the_address_that_listens(runtime, echo_server):
    from servers import unused_port

    class Both:
        def __init__(self) -> None:
            self.asked: list[tuple[str, int]] = []

        async def resolve(self, host: str, port: int) -> list[str]:
            self.asked.append((host, port))
            return ["::1", "127.0.0.1"]  # nothing listens on ::1 at this port

    resolver = Both()
    net = runtime.backend(resolver=resolver)
    async with await net.connect("dual.test", echo_server.port) as stream:
        assert stream.get_extra_info("server_addr") == ("127.0.0.1", echo_server.port)
        assert repr(stream) == f'<NetworkStream ["127.0.0.1:{echo_server.port}"]>'
        await stream.write(b"ok")
        assert await stream.read() == b"ok"
    assert resolver.asked == [("dual.test", echo_server.port)]
    port = unused_port()
    with pytest.raises(netbase.ConnectError, match=r"all 2 attempts failed") as info:
        await net.connect("dual.test", port)
    assert info.value.host == "dual.test"


async def test_a_resolver_that_fails_or_returns_nothing(runtime):
    class Empty:
        async def resolve(self, host: str, port: int) -> list[str]:
            return []

    class Broken:
        async def resolve(self, host: str, port: int) -> list[str]:
            raise OSError("no such name")

    with pytest.raises(netbase.ConnectError, match=r"nothing\.test"):
        await runtime.backend(resolver=Empty()).connect("nothing.test", 80)
    with pytest.raises(netbase.ConnectError, match="no such name") as info:
        await runtime.backend(resolver=Broken()).connect("broken.test", 80)
    assert isinstance(info.value.__cause__, OSError)


async def test_a_slow_resolver_is_bounded_by_the_deadline(runtime):
    class Slow:
        async def resolve(self, host: str, port: int) -> list[str]:
            await trio.sleep(10)
            return ["127.0.0.1"]

    with pytest.raises(netbase.ConnectTimeout):
        async with netbase.timeout(0.1):
            await runtime.backend(resolver=Slow()).connect("slow.test", 80)


async def test_system_resolver_resolves_localhost(runtime):
    import netbase_trio

    addresses = await netbase_trio.SystemResolver().resolve("localhost", 80)
    assert "127.0.0.1" in addresses or "::1" in addresses


async def test_a_sync_resolver_is_a_clear_type_error(runtime):
    class Sync:
        def resolve(self, host: str, port: int) -> list[str]:
            return ["127.0.0.1"]

    with pytest.raises(TypeError, match="coroutine function"):
        await runtime.backend(resolver=Sync()).connect("sync.test", 80)


async def test_a_stalled_system_resolver_is_abandoned_at_the_deadline(runtime, monkeypatch):
    import threading
    import time

    import netbase_trio._resolver as resolver_module
    from helpers import PROMPT, stopwatch

    release = threading.Event()

    def stalled(host: str, port: int) -> list[str]:
        release.wait(5)  # getaddrinfo() stuck on a dead DNS server
        return ["127.0.0.1"]

    monkeypatch.setattr(resolver_module, "getaddrinfo_addresses", stalled)
    try:
        with stopwatch() as watch, pytest.raises(netbase.ConnectTimeout, match="resolving"):
            async with netbase.timeout(0.1):
                await runtime.backend().connect("stalled.test", 80)
        assert watch.seconds < 0.1 + PROMPT
        with trio.move_on_after(0.1) as scope:  # a trio cancellation abandons it too
            await runtime.backend().connect("stalled.test", 80)
        assert scope.cancelled_caught
    finally:
        release.set()
    time.sleep(0.05)  # the abandoned threads finish on their own
