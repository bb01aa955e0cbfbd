"""Conformance: ``get_extra_info`` keys, ``is_readable`` included, on every runtime."""

from __future__ import annotations

import socket

import netbase
import servers
from helpers import read_exactly


async def wait_readable(runtime, stream, want=True, within=5.0):
    for _ in range(int(within / 0.01)):
        if stream.get_extra_info("is_readable") is want:
            return True
        await runtime.sleep(0.01)
    return False


async def test_addresses(runtime, net, echo_server):
    async with await net.connect("127.0.0.1", echo_server.port) as stream:
        client = stream.get_extra_info("client_addr")
        server = stream.get_extra_info("server_addr")
        assert server == ("127.0.0.1", echo_server.port)
        assert isinstance(client, tuple)
        assert len(client) == 2
        assert client[0] == "127.0.0.1"
        assert isinstance(client[1], int)


async def test_ipv6_addresses_are_two_tuples(runtime, net, echo_server_v6):
    async with await net.connect("::1", echo_server_v6.port) as stream:
        assert stream.get_extra_info("server_addr") == ("::1", echo_server_v6.port)
        client = stream.get_extra_info("client_addr")
        assert len(client) == 2
        assert client[0] == "::1"


async def test_socket_and_unknown_keys(runtime, net, echo_server):
    async with await net.connect("127.0.0.1", echo_server.port) as stream:
        sock = stream.get_extra_info("socket")
        assert sock.getpeername()[:2] == ("127.0.0.1", echo_server.port)
        assert sock.type == socket.SOCK_STREAM
        assert stream.get_extra_info("ssl_object") is None
        assert stream.get_extra_info("no such key") is None
        assert stream.get_extra_info("") is None


async def test_is_readable_plain(runtime, net, echo_server):
    async with await net.connect("127.0.0.1", echo_server.port) as stream:
        assert stream.get_extra_info("is_readable") is False
        await stream.write(b"data")
        assert await wait_readable(runtime, stream)
        assert await read_exactly(stream, 4) == b"data"
        assert stream.get_extra_info("is_readable") is False


async def test_is_readable_sees_a_dropped_connection(runtime, net):
    # What a connection pool asks of an idle connection: did the server close it?
    server = servers.Server(servers.send_then_close(b""), name="test-drop")
    try:
        async with await net.connect("127.0.0.1", server.port) as stream:
            assert await wait_readable(runtime, stream)
            assert await stream.read() == b""
    finally:
        server.wait_idle(5)
        server.close()


async def test_is_readable_tls_ignores_session_tickets(
    runtime, net, tls_echo_server, client_context
):
    async with await net.connect("127.0.0.1", tls_echo_server.port) as stream:
        await stream.start_tls(client_context, hostname="localhost")
        await stream.write(b"one")
        assert await stream.read() == b"one"
        # TLS 1.3 servers send session tickets after the handshake; they are
        # not application data, so an idle connection is not readable.
        await runtime.sleep(0.1)
        assert stream.get_extra_info("is_readable") is False
        assert stream.get_extra_info("is_readable") is False
        await stream.write(b"two")
        assert await wait_readable(runtime, stream)
        assert await stream.read() == b"two"
        assert stream.get_extra_info("is_readable") is False


async def test_is_readable_tls_fresh_handshake(runtime, net, tls_echo_server, client_context):
    async with await net.connect("127.0.0.1", tls_echo_server.port) as stream:
        await stream.start_tls(client_context, hostname="localhost")
        await runtime.sleep(0.1)  # tickets arrive, nothing else does
        assert stream.get_extra_info("is_readable") is False
        await stream.write(b"ping")
        async with netbase.timeout(5):
            assert await stream.read() == b"ping"


async def test_is_readable_tls_end_of_stream(runtime, net, server_context, client_context):
    server = servers.Server(
        servers.send_then_close(b"last words"), tls=server_context, name="test-tls-drop"
    )
    try:
        async with await net.connect("127.0.0.1", server.port) as stream:
            await stream.start_tls(client_context, hostname="localhost")
            assert await wait_readable(runtime, stream)
            async with netbase.timeout(5):
                assert await read_exactly(stream, 10) == b"last words"
                assert await wait_readable(runtime, stream)
                assert await stream.read() == b""
    finally:
        server.wait_idle(5)
        server.close()


async def test_ssl_object_after_tls(runtime, net, tls_echo_server, client_context):
    async with await net.connect("127.0.0.1", tls_echo_server.port) as stream:
        await stream.start_tls(client_context, hostname="localhost")
        tls = stream.get_extra_info("ssl_object")
        for method in ("version", "cipher", "selected_alpn_protocol", "getpeercert"):
            assert callable(getattr(tls, method))
        assert stream.get_extra_info("server_addr") == ("127.0.0.1", tls_echo_server.port)
        assert stream.get_extra_info("socket").fileno() >= 0
