"""``backend.connect_unix(path)``: a stream over a UNIX domain socket (every runtime).

Such a stream has every behaviour of a TCP one: deadlines, ``start_tls``,
``get_extra_info`` (the path as the server address) and a repr showing the
path.
"""

from __future__ import annotations

import os
import pathlib
import socket
import tempfile

import pytest

import netbase
import servers
from helpers import PROMPT, stopwatch


@pytest.fixture
def unix_dir():
    with tempfile.TemporaryDirectory() as directory:
        yield directory


def _serve(unix_dir, handler, name, **kwargs):
    return servers.Server(
        handler, unix_path=os.path.join(unix_dir, f"{name}.sock"), name=name, **kwargs
    )


@pytest.fixture
def unix_tls_server(unix_dir, server_context):
    server = _serve(unix_dir, servers.echo, "unix-tls", tls=server_context)
    yield server
    idle = server.wait_idle(5.0)
    server.close()
    assert idle, "the client left a connection open"


@pytest.fixture
def unix_silent_server(unix_dir):
    server = _serve(unix_dir, servers.silent, "unix-silent")
    yield server
    idle = server.wait_idle(5.0)
    server.close()
    assert idle, "the client left a connection open"


async def test_round_trip_and_addresses(runtime, net, unix_echo_server):
    path = unix_echo_server.address
    async with await net.connect_unix(path) as stream:
        await stream.write(b"over unix")
        assert await stream.read() == b"over unix"
        assert stream.get_extra_info("server_addr") == path
        assert stream.get_extra_info("ssl_object") is None
        assert stream.get_extra_info("socket").family == socket.AF_UNIX
        assert stream.get_extra_info("is_readable") is False
        assert repr(stream) == f'<NetworkStream ["{path}"]>'
    assert repr(stream) == f'<NetworkStream ["{path}" CLOSED]>'
    with pytest.raises(netbase.NetworkError, match="closed"):
        await stream.write(b"x")


@pytest.mark.parametrize("kind", [bytes, pathlib.Path])
async def test_bytes_and_path_like(runtime, net, unix_echo_server, kind):
    path = unix_echo_server.address
    async with await net.connect_unix(
        kind(os.fsencode(path)) if kind is bytes else kind(path)
    ) as s:
        await s.write(b"ok")
        assert await s.read() == b"ok"


async def test_end_of_stream(runtime, net, unix_dir):
    server = _serve(unix_dir, servers.send_then_close(b"bye"), "unix-bye")
    try:
        async with await net.connect_unix(server.address) as stream:
            data = b""
            while chunk := await stream.read():
                data += chunk
            assert data == b"bye"
            assert await stream.read() == b""
    finally:
        assert server.wait_idle(5.0)
        server.close()


async def test_start_tls_over_unix(runtime, net, unix_tls_server, client_context):
    path = unix_tls_server.address
    async with await net.connect_unix(path) as stream:
        await stream.start_tls(client_context, hostname="localhost")
        assert stream.get_extra_info("ssl_object").version().startswith("TLS")
        assert stream.get_extra_info("server_addr") == path
        assert repr(stream) == f'<NetworkStream ["{path}" TLS]>'
        await stream.write(b"secret")
        assert await stream.read() == b"secret"


async def test_start_tls_verification_failure_over_unix(runtime, net, unix_tls_server):
    stream = await net.connect_unix(unix_tls_server.address)
    with pytest.raises(netbase.ConnectError):
        await stream.start_tls(netbase.default_ssl_context(), hostname="localhost")
    assert "CLOSED" in repr(stream)
    await stream.close()


async def test_read_deadline_over_unix(runtime, net, unix_silent_server):
    async with await net.connect_unix(unix_silent_server.address) as stream:
        with stopwatch() as watch, pytest.raises(netbase.ReadTimeout):
            async with netbase.timeout(0.2):
                await stream.read()
        assert watch.seconds < 0.2 + PROMPT
        await stream.write(b"still open")  # a read timeout leaves the stream usable


async def test_handshake_deadline_over_unix(runtime, net, unix_silent_server, client_context):
    stream = await net.connect_unix(unix_silent_server.address)
    with stopwatch() as watch, pytest.raises(netbase.ConnectTimeout):
        async with netbase.timeout(0.3):
            await stream.start_tls(client_context, hostname="localhost")
    assert watch.seconds < 0.3 + PROMPT
    await stream.close()


async def test_expired_deadline_fails_before_connecting(runtime, net, unix_echo_server):
    accepted = unix_echo_server.accepted
    with pytest.raises(netbase.ConnectTimeout):
        async with netbase.timeout(0):
            await net.connect_unix(unix_echo_server.address)
    assert unix_echo_server.accepted == accepted


def _stale_socket(path):
    """A socket file left behind by a server that is gone."""
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(path)


def _plain_file(path):
    with open(path, "w"):
        pass


@pytest.mark.parametrize(
    ("make", "cause"),
    [
        (_stale_socket, ConnectionRefusedError),
        (_plain_file, ConnectionRefusedError),
    ],
    ids=["nobody-listens", "not-a-socket"],  # a missing path: test_conformance_wrap.py
)
async def test_nobody_at_the_path_is_connect_error(runtime, net, unix_dir, make, cause):
    path = os.path.join(unix_dir, "app.sock")
    make(path)
    with pytest.raises(netbase.ConnectError) as info:
        await net.connect_unix(path)
    assert path in str(info.value)
    assert isinstance(info.value.__cause__, cause)


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/tmp/" + "x" * 200 + ".sock", ValueError),
        (b"/tmp/" + b"x" * 200, ValueError),
        ("", ValueError),
        ("/tmp/a\0b.sock", ValueError),
        (42, TypeError),
        (None, TypeError),
    ],
    ids=["too-long", "too-long-bytes", "empty", "nul", "int", "none"],
)
async def test_bad_paths_fail_before_any_io(runtime, net, path, error):
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(error):
        await net.connect_unix(path)
    assert set(os.listdir("/proc/self/fd")) == before  # not even a socket was made
