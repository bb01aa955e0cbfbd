"""trio only: extra info, is_readable on TLS, connection options, Happy Eyeballs on loopback.

The shared conformance suite covers these on every runtime as it grows; these
pin down the trio backend's own layers (its TLS over memory BIOs, its race in
a nursery) in the meantime.
"""

from __future__ import annotations

import socket

import pytest

import netbase

# Only the trio session installs trio: elsewhere this module is skipped whole.
pytest.importorskip("netbase_trio")

import trio

pytestmark = pytest.mark.runtimes("trio")


async def test_extra_info(runtime, net, tls_echo_server, client_context):
    async with await net.connect(tls_echo_server.host, tls_echo_server.port) as stream:
        assert stream.get_extra_info("server_addr") == (tls_echo_server.host, tls_echo_server.port)
        client = stream.get_extra_info("client_addr")
        assert client[0] == "127.0.0.1"
        assert isinstance(client[1], int)
        assert isinstance(stream.get_extra_info("socket"), socket.socket)
        assert stream.get_extra_info("ssl_object") is None
        assert stream.get_extra_info("nonsense") is None
        await stream.start_tls(client_context, hostname="localhost")
        tls = stream.get_extra_info("ssl_object")
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        assert tls.getpeercert()
        assert repr(stream) == f'<NetworkStream ["127.0.0.1:{tls_echo_server.port}" TLS]>'
    assert repr(stream) == f'<NetworkStream ["127.0.0.1:{tls_echo_server.port}" TLS CLOSED]>'


async def test_is_readable_on_tls_ignores_session_tickets(
    runtime, net, tls_echo_server, client_context
):
    async with await net.connect(tls_echo_server.host, tls_echo_server.port) as stream:
        await stream.start_tls(client_context, hostname="localhost")
        assert stream.get_extra_info("ssl_object").version() == "TLSv1.3"
        await trio.sleep(0.1)  # the server's session tickets have arrived by now
        assert stream.get_extra_info("is_readable") is False
        await stream.write(b"hello")
        await trio.sleep(0.1)
        assert stream.get_extra_info("is_readable") is True
        assert stream.get_extra_info("is_readable") is True  # asking twice loses nothing
        assert await stream.read(2) == b"he"
        assert await stream.read() == b"llo"
        assert stream.get_extra_info("is_readable") is False


async def test_is_readable_sees_end_of_stream_on_tls(runtime, net, server_context, client_context):
    import servers

    server = servers.Server(
        servers.send_then_close(b"bye", close_notify=False), tls=server_context, name="test-bye"
    )
    try:
        async with await net.connect(server.host, server.port) as stream:
            await stream.start_tls(client_context, hostname="localhost")
            await trio.sleep(0.1)
            assert stream.get_extra_info("is_readable") is True
            assert await stream.read() == b"bye"
            assert await stream.read() == b""
    finally:
        server.wait_idle(5)
        server.close()


async def test_is_readable_on_plain_streams(runtime, net, echo_server):
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        assert stream.get_extra_info("is_readable") is False
        await stream.write(b"x")
        await trio.sleep(0.05)
        assert stream.get_extra_info("is_readable") is True
        assert await stream.read() == b"x"


async def test_connect_unix(runtime, net, unix_echo_server):
    path = unix_echo_server.address
    async with await net.connect_unix(path) as stream:
        await stream.write(b"over unix")
        assert await stream.read() == b"over unix"
        assert stream.get_extra_info("server_addr") == path
        assert repr(stream) == f'<NetworkStream ["{path}"]>'
    with pytest.raises(netbase.ConnectError):
        await net.connect_unix(path + ".missing")
    with pytest.raises(ValueError, match="longer"):
        await net.connect_unix("x" * 200)


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
