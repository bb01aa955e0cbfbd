"""``NetworkBackend(socket_options=...)``: ``setsockopt`` before ``connect()`` (every runtime).

"Before" is proven with TCP_MAXSEG: set before connect() it changes the MSS
the client announces in its SYN, which the server reads on its accepted
socket; set after connect() it is too late for the handshake, and the server
sees the loopback MSS (tens of kilobytes).
"""

from __future__ import annotations

import os
import socket

import pytest
from test_options_support import ACCEPT, HANG, REFUSE, layout, stub_resolver

import netbase

HOST = "options.test"  # never resolved by the system: every test passes a stub
SMALL_MSS = [(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1000)]


async def test_options_are_set_before_connect(runtime):
    with layout({"127.0.0.1": ACCEPT}) as lay:
        plain = runtime.backend()
        async with await plain.connect("127.0.0.1", lay.port):
            pass
        net = runtime.backend(socket_options=SMALL_MSS)
        async with await net.connect("127.0.0.1", lay.port) as stream:
            await stream.write(b"x" * 5000)
            got = b""
            while len(got) < 5000:
                got += await stream.read()
        without, with_option = (a.mss for a in lay.accepted)
        assert without > 1000  # the control: the loopback MSS
        assert with_option <= 1000  # the server saw the small MSS in the SYN


async def test_options_are_set_on_every_attempt(runtime):
    plan = {"127.0.0.2": REFUSE, "::1": HANG, "127.0.0.3": ACCEPT}
    with layout(plan) as lay:
        resolver = stub_resolver(runtime, ["127.0.0.2", "::1", "127.0.0.3"])
        options = [*SMALL_MSS, (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
        net = runtime.backend(resolver=resolver, socket_options=options, happy_eyeballs_delay=0.1)
        async with await net.connect(HOST, lay.port) as stream:
            assert stream.get_extra_info("server_addr") == ("127.0.0.3", lay.port)
            sock = stream.get_extra_info("socket")
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert lay.first_accept("127.0.0.3").mss <= 1000


async def test_options_with_a_local_address(runtime):
    with layout({"127.0.0.1": ACCEPT}) as lay:
        net = runtime.backend(socket_options=SMALL_MSS, local_address="127.0.0.2")
        async with await net.connect("127.0.0.1", lay.port):
            pass
        accepted = lay.first_accept("127.0.0.1")
        assert accepted.peer[0] == "127.0.0.2"
        assert accepted.mss <= 1000


needs_root = pytest.mark.skipif(
    not hasattr(socket, "SO_BINDTODEVICE") or os.geteuid() != 0,
    reason="SO_BINDTODEVICE needs Linux and CAP_NET_RAW",
)


@needs_root
async def test_bind_to_device(runtime, echo_server):
    """SO_BINDTODEVICE, one of the options that only make sense before connect()."""
    net = runtime.backend(socket_options=[(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"lo")])
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        sock = stream.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, 16) == b"lo\0"
        await stream.write(b"on lo")
        assert await stream.read() == b"on lo"


@needs_root
async def test_four_tuple_form(runtime, echo_server):
    """(level, option, None, optlen): setsockopt's buffer-less form (here: bind to no device)."""
    net = runtime.backend(socket_options=[(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, None, 0)])
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        sock = stream.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, 16).strip(b"\0") == b""


async def test_options_from_a_generator_are_kept(runtime, echo_server):
    """An iterable is read once at construction, not at each connect."""
    options = ((socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1) for _ in range(1))
    net = runtime.backend(socket_options=options)
    for _ in range(2):
        async with await net.connect(echo_server.host, echo_server.port) as stream:
            sock = stream.get_extra_info("socket")
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1


async def test_option_the_os_rejects_is_connect_error(runtime, echo_server):
    net = runtime.backend(socket_options=[(socket.SOL_SOCKET, 12345, 1)])
    accepted = echo_server.accepted
    with pytest.raises(netbase.ConnectError) as info:
        await net.connect(echo_server.host, echo_server.port)
    assert f"127.0.0.1:{echo_server.port}" in str(info.value)
    assert isinstance(info.value.__cause__, OSError)
    # The socket is closed (the leak check) and no connection was attempted.
    assert echo_server.accepted == accepted


@pytest.mark.parametrize(
    "options",
    [
        5,
        "SO_KEEPALIVE",
        [(socket.SOL_SOCKET, socket.SO_KEEPALIVE)],
        [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1, 4, 5)],
        [[socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1]],
        [("SOL_SOCKET", socket.SO_KEEPALIVE, 1)],
        [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, "1")],
        [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1.0)],
        [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1, 4)],
        [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, None, "4")],
    ],
)
async def test_malformed_options_are_type_errors_at_construction(runtime, options):
    with pytest.raises(TypeError, match=r"socket.option"):
        runtime.backend(socket_options=options)
