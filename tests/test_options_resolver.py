"""``NetworkBackend(resolver=...)``: swapping name resolution (every runtime).

The threaded backend takes a sync resolver, the async ones an async resolver;
``stub_resolver`` builds the right flavour. Happy Eyeballs applied to what a
resolver returns is in test_options_happy_eyeballs.py.
"""

from __future__ import annotations

import socket

import pytest
from test_options_support import answering_resolver, call_resolve, stub_resolver

import netbase
from helpers import PROMPT, stopwatch

HOST = "resolver.test"  # never resolved by the system: every test passes a stub


async def test_the_resolvers_answer_is_used(runtime, echo_server):
    resolver = stub_resolver(runtime, ["127.0.0.1"])
    net = runtime.backend(resolver=resolver)
    async with await net.connect(HOST, echo_server.port) as stream:
        await stream.write(b"hello")
        assert await stream.read() == b"hello"
        assert stream.get_extra_info("server_addr") == ("127.0.0.1", echo_server.port)
        assert repr(stream) == f'<NetworkStream ["127.0.0.1:{echo_server.port}"]>'
    assert resolver.calls == [(HOST, echo_server.port)]


async def test_ip_literals_skip_the_resolver(runtime, echo_server, echo_server_v6):
    resolver = stub_resolver(runtime, OSError("must not be called"))
    net = runtime.backend(resolver=resolver)
    async with await net.connect("127.0.0.1", echo_server.port):
        pass
    async with await net.connect("::1", echo_server_v6.port):
        pass
    assert resolver.calls == []


async def test_no_address_is_connect_error_naming_the_host(runtime):
    net = runtime.backend(resolver=stub_resolver(runtime, []))
    with pytest.raises(netbase.ConnectError) as info:
        await net.connect(HOST, 443)
    assert f"{HOST}:443" in str(info.value)
    assert not isinstance(info.value, netbase.ConnectTimeout)


async def test_resolver_failure_is_connect_error_with_the_cause(runtime):
    error = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    net = runtime.backend(resolver=stub_resolver(runtime, error))
    with pytest.raises(netbase.ConnectError) as info:
        await net.connect(HOST, 443)
    assert f"{HOST}:443" in str(info.value)
    assert "Name or service not known" in str(info.value)
    assert info.value.__cause__ is error


async def test_resolvers_own_connect_error_passes_through(runtime):
    error = netbase.ConnectError(f"{HOST}:443: no such name in the zone file")
    net = runtime.backend(resolver=stub_resolver(runtime, error))
    with pytest.raises(netbase.ConnectError) as info:
        await net.connect(HOST, 443)
    assert info.value is error


async def test_slow_resolver_is_bounded_by_the_deadline(runtime, echo_server):
    """An async resolver is cut at the deadline by the backend; a sync one honours it itself."""
    resolver = stub_resolver(runtime, ["127.0.0.1"], delay=5.0)
    net = runtime.backend(resolver=resolver)
    with stopwatch() as watch, pytest.raises(netbase.ConnectTimeout) as info:
        async with netbase.timeout(0.3):
            await net.connect(HOST, echo_server.port)
    assert 0.25 <= watch.seconds < 0.3 + PROMPT
    assert HOST in str(info.value)
    assert resolver.finished == 0  # the answer never came


@pytest.mark.sync_only
async def test_late_answer_of_a_sync_resolver_is_not_used(runtime, echo_server):
    """A blocking resolver that ignores the deadline cannot be interrupted, but what it
    returns after the deadline is not connected to."""
    resolver = stub_resolver(runtime, ["127.0.0.1"], delay=0.5, ignore_deadline=True)
    net = runtime.backend(resolver=resolver)
    with pytest.raises(netbase.ConnectTimeout):
        async with netbase.timeout(0.2):
            await net.connect(HOST, echo_server.port)
    assert resolver.finished == 1
    assert echo_server.wait_idle(1.0)


async def test_expired_deadline_calls_no_resolver(runtime):
    resolver = stub_resolver(runtime, ["127.0.0.1"])
    net = runtime.backend(resolver=resolver)
    with pytest.raises(netbase.ConnectTimeout):
        async with netbase.timeout(0):
            await net.connect(HOST, 443)
    assert resolver.calls == []


@pytest.mark.parametrize("resolver", [object(), "8.8.8.8", lambda host, port: ["127.0.0.1"]])
async def test_resolver_without_resolve_is_type_error(runtime, resolver):
    with pytest.raises(TypeError, match="resolver"):
        runtime.backend(resolver=resolver)


async def test_options_are_keyword_only(runtime):
    with pytest.raises(TypeError):
        runtime.module.NetworkBackend(stub_resolver(runtime, ["127.0.0.1"]))


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ("10.9.8.7", TypeError),  # a str: "1", "0", ... and "0" is this machine
        ([""], ValueError),  # "" is this machine too
        (["localhost"], ValueError),  # a name, not an address
        (["127.0.0.1", "127.0.0.1 "], ValueError),
        ([b"127.0.0.1"], TypeError),
        ([None], TypeError),
        (None, TypeError),
        (42, TypeError),
        ({"127.0.0.1"}, TypeError),  # a set has no order to try
    ],
    ids=repr,
)
async def test_a_wrong_answer_is_refused_before_connecting(runtime, echo_server, answer, error):
    """Connecting with a wrong answer can reach the wrong host: refused, naming the resolver."""
    resolver = answering_resolver(runtime, answer)
    net = runtime.backend(resolver=resolver)
    accepted = echo_server.accepted
    with pytest.raises(error) as info:
        await net.connect(HOST, echo_server.port)
    assert type(resolver).__name__ in str(info.value)
    assert repr(answer)[:40] in str(info.value)
    assert echo_server.accepted == accepted


async def test_a_tuple_answer_is_a_sequence_too(runtime, echo_server):
    answer = ("127.0.0.1",)
    resolver = answering_resolver(runtime, answer)
    async with await runtime.backend(resolver=resolver).connect(HOST, echo_server.port) as stream:
        assert stream.get_extra_info("server_addr") == ("127.0.0.1", echo_server.port)


@pytest.mark.parametrize("deadline", [None, 5.0])
@pytest.mark.parametrize("host", ["192.168..1", "1" * 64])
async def test_system_resolver_turns_an_idna_error_into_a_resolution_error(runtime, host, deadline):
    """Called directly (no host checks before it), the codec's UnicodeError in
    getaddrinfo() is a socket.gaierror with the cause chained: never raw, and no
    resolver thread dies of it (the call returns, with or without a deadline)."""
    resolver = runtime.module.SystemResolver()
    with pytest.raises(socket.gaierror) as info:
        if deadline is None:
            await call_resolve(resolver, host, 80)
        else:
            async with netbase.timeout(deadline):
                await call_resolve(resolver, host, 80)
    assert isinstance(info.value.__cause__, UnicodeError)
