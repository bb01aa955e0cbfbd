"""``NetworkBackend(local_address=...)``: the source IP of every connection (every runtime)."""

from __future__ import annotations

import errno
import socket
import sys

import pytest
from test_options_support import ACCEPT, layout, stub_resolver

import netbase

HOST = "source.test"  # never resolved by the system: every test passes a stub


async def test_connects_from_the_local_address(runtime):
    with layout({"127.0.0.1": ACCEPT}) as lay:
        net = runtime.backend(local_address="127.0.0.2")
        async with await net.connect("127.0.0.1", lay.port) as stream:
            assert stream.get_extra_info("client_addr")[0] == "127.0.0.2"
            assert lay.first_accept("127.0.0.1").peer[0] == "127.0.0.2"  # what the server saw
            await stream.write(b"from .2")
            assert await stream.read() == b"from .2"


async def test_ipv6_local_address(runtime):
    with layout({"::1": ACCEPT}) as lay:
        net = runtime.backend(local_address="::1")
        async with await net.connect("::1", lay.port) as stream:
            assert stream.get_extra_info("client_addr")[0] == "::1"
            assert lay.first_accept("::1").peer[0] == "::1"


async def test_every_connection_gets_its_own_port(runtime):
    with layout({"127.0.0.1": ACCEPT}) as lay:
        net = runtime.backend(local_address="127.0.0.3")
        async with (
            await net.connect("127.0.0.1", lay.port) as first,
            await net.connect("127.0.0.1", lay.port) as second,
        ):
            ports = {s.get_extra_info("client_addr")[1] for s in (first, second)}
            assert len(ports) == 2
            assert 0 not in ports


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="IP_BIND_ADDRESS_NO_PORT is Linux's"
)
async def test_source_port_is_left_to_connect(runtime):
    """IP_BIND_ADDRESS_NO_PORT: bind() picks no port, so source ports are not exhausted."""
    with layout({"127.0.0.1": ACCEPT}) as lay:
        net = runtime.backend(local_address="127.0.0.2")
        async with await net.connect("127.0.0.1", lay.port) as stream:
            sock = stream.get_extra_info("socket")
            assert (
                sock.getsockopt(socket.IPPROTO_IP, getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24))
                == 1
            )


async def test_addresses_of_the_other_family_are_not_tried(runtime):
    plan = {"::1": ACCEPT, "127.0.0.1": ACCEPT}
    with layout(plan) as lay:
        resolver = stub_resolver(runtime, ["::1", "127.0.0.1"])
        net = runtime.backend(resolver=resolver, local_address="127.0.0.2")
        async with await net.connect(HOST, lay.port) as stream:
            assert stream.get_extra_info("server_addr") == ("127.0.0.1", lay.port)
            assert lay.first_accept("127.0.0.1").peer[0] == "127.0.0.2"
        assert lay.accepts("::1") == []


async def test_no_address_of_the_family_is_connect_error(runtime):
    net = runtime.backend(resolver=stub_resolver(runtime, ["::1"]), local_address="127.0.0.2")
    with pytest.raises(netbase.ConnectError) as info:
        await net.connect(HOST, 443)
    assert f"{HOST}:443" in str(info.value)
    assert "127.0.0.2" in str(info.value)


async def test_ip_literal_of_the_other_family_is_connect_error(runtime, echo_server_v6):
    net = runtime.backend(local_address="127.0.0.1")
    with pytest.raises(netbase.ConnectError) as info:
        await net.connect("::1", echo_server_v6.port)
    assert f"[::1]:{echo_server_v6.port}" in str(info.value)


@pytest.mark.parametrize("address", ["192.0.2.1", "2001:db8::1"])
async def test_address_that_is_not_local_is_connect_error(
    runtime, address, echo_server, echo_server_v6
):
    server = echo_server_v6 if ":" in address else echo_server
    net = runtime.backend(local_address=address)
    with pytest.raises(netbase.ConnectError) as info:
        await net.connect(server.host, server.port)
    assert server.host in str(info.value)
    assert isinstance(info.value.__cause__, OSError)
    assert info.value.__cause__.errno == errno.EADDRNOTAVAIL


@pytest.mark.parametrize(
    ("address", "error"),
    [
        (b"127.0.0.1", TypeError),
        (2130706433, TypeError),
        (("127.0.0.1", 0), TypeError),
        ("localhost", ValueError),
        ("127.0.0.256", ValueError),
        ("", ValueError),
    ],
)
async def test_bad_local_address_fails_at_construction(runtime, address, error):
    with pytest.raises(error, match="local_address"):
        runtime.backend(local_address=address)
