"""Conformance: connect, read, write, close, reprs (every runtime)."""

from __future__ import annotations

import pytest

import netbase


async def test_echo_round_trip(runtime, net, echo_server):
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        await stream.write(b"hello")
        assert await stream.read() == b"hello"


async def test_connect_refused_is_connect_error(runtime, net):
    from servers import unused_port

    port = unused_port()
    with pytest.raises(netbase.ConnectError) as info:
        await net.connect("127.0.0.1", port)
    assert f"127.0.0.1:{port}" in str(info.value)
    assert isinstance(info.value.__cause__, ConnectionRefusedError)
