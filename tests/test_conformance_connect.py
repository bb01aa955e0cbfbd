"""Conformance: ``backend.connect(host, port)`` on every runtime."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

import netbase

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup
import servers
from helpers import PROMPT, stopwatch


async def test_connect_returns_an_open_stream(runtime, net, echo_server):
    stream = await net.connect(echo_server.host, echo_server.port)
    try:
        assert repr(stream) == f'<NetworkStream ["127.0.0.1:{echo_server.port}"]>'
        await stream.write(b"ping")
        assert await stream.read() == b"ping"
    finally:
        await stream.close()
    assert repr(stream) == f'<NetworkStream ["127.0.0.1:{echo_server.port}" CLOSED]>'


async def test_connect_by_name(runtime, net, echo_server):
    # "localhost" comes from /etc/hosts: no query leaves the machine.
    async with await net.connect("localhost", echo_server.port) as stream:
        assert repr(stream) == f'<NetworkStream ["127.0.0.1:{echo_server.port}"]>'
        await stream.write(b"by name")
        assert await stream.read() == b"by name"


async def test_connect_ipv6_literal(runtime, net, echo_server_v6):
    async with await net.connect("::1", echo_server_v6.port) as stream:
        assert repr(stream) == f'<NetworkStream ["[::1]:{echo_server_v6.port}"]>'
        assert stream.get_extra_info("server_addr") == ("::1", echo_server_v6.port)
        await stream.write(b"six")
        assert await stream.read() == b"six"


async def test_backend_repr(runtime, net):
    assert repr(net) == runtime.backend_repr


async def test_tcp_nodelay_is_on(runtime, net, echo_server):
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        sock = stream.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


ECHO_PORT = object()  # stands for the echo server's port in the table below


@pytest.mark.parametrize(
    ("host", "port", "error"),
    [
        (b"127.0.0.1", ECHO_PORT, TypeError),
        (None, ECHO_PORT, TypeError),
        (127, ECHO_PORT, TypeError),
        ("127.0.0.1", "80", TypeError),
        ("127.0.0.1", 80.0, TypeError),
        ("127.0.0.1", None, TypeError),
        ("127.0.0.1", True, TypeError),
        ("", ECHO_PORT, ValueError),
        ("127.0.0.1", -1, ValueError),
        ("127.0.0.1", 65536, ValueError),
        ("local\x00host", ECHO_PORT, ValueError),
        ("a" * 300, ECHO_PORT, ValueError),
        ("a" * 64 + ".example", ECHO_PORT, ValueError),
        # What getaddrinfo()'s IDNA codec refuses with a raw UnicodeError:
        ("192.168..1", ECHO_PORT, ValueError),  # a mistyped IP address
        ("1" * 64, ECHO_PORT, ValueError),  # a numeric label over 63 characters
        ("127.0.0." + "1" * 64, ECHO_PORT, ValueError),
        (".127.0.0.1", ECHO_PORT, ValueError),
        ("127.0.0.1..", ECHO_PORT, ValueError),
        ("f" * 64 + "::1", ECHO_PORT, ValueError),
        ("local..host", ECHO_PORT, ValueError),
    ],
)
async def test_bad_arguments_fail_before_any_io(runtime, net, echo_server, host, port, error):
    accepted = echo_server.accepted
    with pytest.raises(error) as info:
        await net.connect(host, echo_server.port if port is ECHO_PORT else port)
    assert echo_server.accepted == accepted
    # Our own check, not the IDNA codec's error escaping from getaddrinfo().
    assert not isinstance(info.value, UnicodeError)


async def test_refused_is_connect_error_with_cause(runtime, net):
    port = servers.unused_port()
    with pytest.raises(netbase.ConnectError) as info:
        await net.connect("127.0.0.1", port)
    assert not isinstance(info.value, netbase.TimeoutError)
    assert f"127.0.0.1:{port}" in str(info.value)
    assert isinstance(info.value.__cause__, ConnectionRefusedError)


async def test_refused_on_every_address_names_the_host(runtime, net):
    port = servers.unused_port()
    with pytest.raises(netbase.ConnectError) as info:
        await net.connect("localhost", port)
    assert f"localhost:{port}" in str(info.value)
    # One address (localhost as 127.0.0.1 only): its OSError. Two (::1 as well,
    # as glibc answers on many machines): every attempt's, in an ExceptionGroup.
    cause = info.value.__cause__
    causes = list(cause.exceptions) if isinstance(cause, BaseExceptionGroup) else [cause]
    assert causes
    for exc in causes:
        assert isinstance(exc, OSError)
        assert not isinstance(exc, netbase.NetworkError)


async def test_connect_timeout_is_prompt(runtime, net, full_backlog):
    host, port = full_backlog
    with stopwatch() as watch, pytest.raises(netbase.ConnectTimeout) as info:
        async with netbase.timeout(0.2):
            await net.connect(host, port)
    assert 0.15 <= watch.seconds < 0.2 + PROMPT
    assert isinstance(info.value, netbase.ConnectError)
    assert isinstance(info.value, TimeoutError)  # the builtin one too


@pytest.mark.parametrize("by", ["address", "name"])
async def test_expired_deadline_fails_before_any_io(runtime, net, echo_server, by):
    host = echo_server.host if by == "address" else "localhost"
    accepted = echo_server.accepted
    with pytest.raises(netbase.ConnectTimeout) as info:
        async with netbase.timeout(0):
            await net.connect(host, echo_server.port)
    assert echo_server.accepted == accepted
    # The same words on every runtime and for every kind of host (the docs print them).
    assert str(info.value) == "timed out: the deadline passed"


async def test_no_timeout_means_no_limit(runtime, net, echo_server):
    with netbase.timeout(float("inf")):
        async with await net.connect(echo_server.host, echo_server.port) as stream:
            await stream.write(b"x")
            assert await stream.read() == b"x"


UNRESOLVABLE = """
import sys
sys.path.insert(0, {tests!r})
import netbase
from drivers import DRIVERS

driver = DRIVERS[{runtime!r}]

async def main():
    net = driver.backend()
    try:
        await net.connect("no-such-host.invalid", 80)
    except netbase.ConnectError as exc:
        print(type(exc).__name__, "|", exc, "|", type(exc.__cause__).__name__)

driver.run(main)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="network namespaces are Linux")
async def test_unresolvable_name_is_connect_error(runtime):
    # The lookup runs in a network namespace with no interfaces, so that no
    # DNS query can leave the machine.
    code = UNRESOLVABLE.format(tests=os.path.dirname(__file__), runtime=runtime.name)
    result = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    name, message, cause = (part.strip() for part in result.stdout.split("|"))
    assert name == "ConnectError"
    assert "no-such-host.invalid:80" in message
    assert cause == "gaierror"
