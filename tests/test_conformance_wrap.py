"""Conformance: streams around sockets the caller connected, and UNIX domain sockets."""

from __future__ import annotations

import os
import socket
import tempfile

import pytest

import netbase
from helpers import PROMPT, read_exactly, stopwatch


async def test_wrap_a_connected_tcp_socket(runtime, echo_server, client_context, tls_echo_server):
    sock = socket.create_connection(("127.0.0.1", echo_server.port))
    stream = await runtime.wrap_socket(sock)
    try:
        assert repr(stream) == f'<NetworkStream ["127.0.0.1:{echo_server.port}"]>'
        assert stream.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        await stream.write(b"wrapped")
        assert await read_exactly(stream, 7) == b"wrapped"
        with pytest.raises(netbase.ReadTimeout):
            async with netbase.timeout(0.05):
                await stream.read()
    finally:
        await stream.close()
    assert sock.fileno() == -1 or repr(stream).endswith("CLOSED]>")

    sock = socket.create_connection(("127.0.0.1", tls_echo_server.port))
    async with await runtime.wrap_socket(sock) as stream:
        await stream.start_tls(client_context, hostname="localhost")
        await stream.write(b"tls")
        assert await read_exactly(stream, 3) == b"tls"


async def test_wrap_a_unix_socket(runtime, unix_echo_server):
    path = unix_echo_server.address
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    async with await runtime.wrap_socket(sock) as stream:
        assert repr(stream) == f'<NetworkStream ["{path}"]>'
        assert stream.get_extra_info("server_addr") == path
        await stream.write(b"over unix")
        assert await read_exactly(stream, 9) == b"over unix"


async def test_connect_unix(runtime, net, unix_echo_server):
    path = unix_echo_server.address
    async with await net.connect_unix(path) as stream:
        assert repr(stream) == f'<NetworkStream ["{path}"]>'
        assert stream.get_extra_info("server_addr") == path
        await stream.write(b"hello unix")
        assert await read_exactly(stream, 10) == b"hello unix"
        with stopwatch() as watch, pytest.raises(netbase.ReadTimeout):
            async with netbase.timeout(0.1):
                await stream.read()
        assert watch.seconds < 0.1 + PROMPT
    assert repr(stream) == f'<NetworkStream ["{path}" CLOSED]>'


async def test_connect_unix_missing_path(runtime, net):
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "nobody-here.sock")
        with pytest.raises(netbase.ConnectError) as info:
            await net.connect_unix(path)
        assert path in str(info.value)
        assert isinstance(info.value.__cause__, FileNotFoundError)


@pytest.mark.parametrize(
    ("path", "error"),
    [(None, TypeError), (42, TypeError), ("", ValueError), ("/tmp/" + "x" * 200, ValueError)],
)
async def test_connect_unix_bad_paths(runtime, net, path, error):
    with pytest.raises(error):
        await net.connect_unix(path)
