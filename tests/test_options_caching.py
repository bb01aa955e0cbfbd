"""``netbase.CachingResolver`` / ``AsyncCachingResolver`` (every runtime).

The sync one wraps a sync resolver (threaded backend), the async one an async
resolver (asyncio, uvloop, trio); ``caching_resolver`` picks the flavour.
"""

from __future__ import annotations

import socket

import pytest
from test_options_support import caching_resolver, call_resolve, stub_resolver

import netbase
from helpers import PROMPT, stopwatch

HOST = "cached.test"  # never resolved by the system: every test passes a stub


async def test_answers_are_cached_until_the_ttl(runtime, echo_server):
    stub = stub_resolver(runtime, ["127.0.0.1"])
    cache = caching_resolver(runtime, stub, ttl=0.3)
    net = runtime.backend(resolver=cache)
    for _ in range(3):
        async with await net.connect(HOST, echo_server.port):
            pass
    assert stub.calls == [(HOST, echo_server.port)]
    await runtime.sleep(0.35)
    async with await net.connect(HOST, echo_server.port):
        pass
    assert len(stub.calls) == 2


async def test_names_and_ports_are_cached_apart(runtime):
    stub = stub_resolver(runtime, ["127.0.0.1"])
    cache = caching_resolver(runtime, stub)
    for host, port in [("a.test", 80), ("b.test", 80), ("a.test", 443), ("a.test", 80)]:
        assert await call_resolve(cache, host, port) == ["127.0.0.1"]
    assert stub.calls == [("a.test", 80), ("b.test", 80), ("a.test", 443)]
    assert len(cache) == 3


async def test_size_is_bounded_least_recently_used_first_out(runtime):
    stub = stub_resolver(runtime, ["127.0.0.1"])
    cache = caching_resolver(runtime, stub, max_size=2)
    await call_resolve(cache, "a.test", 80)
    await call_resolve(cache, "b.test", 80)
    await call_resolve(cache, "a.test", 80)  # a is now the most recently used
    await call_resolve(cache, "c.test", 80)  # evicts b
    assert len(cache) == 2
    await call_resolve(cache, "a.test", 80)
    assert [host for host, _ in stub.calls] == ["a.test", "b.test", "c.test"]
    await call_resolve(cache, "b.test", 80)
    assert [host for host, _ in stub.calls] == ["a.test", "b.test", "c.test", "b.test"]


async def test_failures_are_not_cached(runtime, echo_server):
    error = socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
    stub = stub_resolver(runtime, error, ["127.0.0.1"])
    net = runtime.backend(resolver=caching_resolver(runtime, stub))
    with pytest.raises(netbase.ConnectError) as info:
        await net.connect(HOST, echo_server.port)
    assert info.value.__cause__ is error
    async with await net.connect(HOST, echo_server.port):
        pass
    async with await net.connect(HOST, echo_server.port):
        pass
    assert len(stub.calls) == 2


async def test_empty_answers_are_not_cached(runtime):
    stub = stub_resolver(runtime, [], ["127.0.0.1"])
    cache = caching_resolver(runtime, stub)
    assert await call_resolve(cache, HOST, 80) == []
    assert len(cache) == 0
    assert await call_resolve(cache, HOST, 80) == ["127.0.0.1"]
    assert await call_resolve(cache, HOST, 80) == ["127.0.0.1"]
    assert len(stub.calls) == 2


async def test_callers_get_their_own_copy(runtime):
    cache = caching_resolver(runtime, stub_resolver(runtime, ["::1", "127.0.0.1"]))
    first = await call_resolve(cache, HOST, 80)
    first.reverse()
    assert await call_resolve(cache, HOST, 80) == ["::1", "127.0.0.1"]


async def test_clear_forgets_everything(runtime):
    stub = stub_resolver(runtime, ["127.0.0.1"])
    cache = caching_resolver(runtime, stub)
    await call_resolve(cache, HOST, 80)
    cache.clear()
    assert len(cache) == 0
    await call_resolve(cache, HOST, 80)
    assert len(stub.calls) == 2


async def test_concurrent_lookups_share_one_call(runtime, echo_server):
    stub = stub_resolver(runtime, ["127.0.0.1"], delay=0.3)
    net = runtime.backend(resolver=caching_resolver(runtime, stub))

    async def connect():
        async with await net.connect(HOST, echo_server.port) as stream:
            return stream.get_extra_info("server_addr")

    results = await runtime.gather(connect, connect, connect)
    assert results == [("127.0.0.1", echo_server.port)] * 3
    assert len(stub.calls) == 1


async def test_many_concurrent_callers_many_names(runtime):
    """Threads (or tasks) hammering a small cache: every caller gets its own name's answer."""
    answers = {f"host{i}.test": [f"127.0.0.{i + 1}"] for i in range(6)}
    stub = stub_resolver(runtime, answers)
    cache = caching_resolver(runtime, stub, max_size=3)

    async def worker(offset):
        for n in range(60):
            host = f"host{(n + offset) % 6}.test"
            assert await call_resolve(cache, host, 80) == answers[host]
        return True

    done = await runtime.gather(*(lambda i=i: worker(i) for i in range(8)))
    assert done == [True] * 8
    assert len(cache) <= 3
    assert len(stub.calls) >= 6  # evictions made some names be looked up again


async def test_a_waiter_keeps_its_own_deadline(runtime):
    stub = stub_resolver(runtime, ["127.0.0.1"], delay=0.6)
    cache = caching_resolver(runtime, stub)

    async def leader():
        return await call_resolve(cache, HOST, 80)

    async def waiter():
        await runtime.sleep(0.05)
        with stopwatch() as watch, pytest.raises(netbase.ConnectTimeout) as info:
            async with netbase.timeout(0.2):
                await call_resolve(cache, HOST, 80)
        assert HOST in str(info.value)
        return watch.seconds

    answer, waited = await runtime.gather(leader, waiter)
    assert answer == ["127.0.0.1"]
    assert waited < 0.2 + PROMPT
    assert len(stub.calls) == 1


async def test_a_failure_is_shared_with_the_waiters(runtime):
    """Ten callers of a name that fails after 0.3 s: one call, and all ten told at once."""
    error = socket.gaierror(socket.EAI_NONAME, "no such name")
    stub = stub_resolver(runtime, error, ["127.0.0.1"], delay=0.3)
    cache = caching_resolver(runtime, stub)

    async def caller():
        with pytest.raises(socket.gaierror) as info:
            await call_resolve(cache, HOST, 80)
        return info.value

    with stopwatch() as watch:
        errors = await runtime.gather(*([caller] * 10))
    assert all(exc is error for exc in errors)
    assert len(stub.calls) == 1
    assert watch.seconds < 0.3 + PROMPT
    # Not cached: the next caller looks the name up again.
    assert await call_resolve(cache, HOST, 80) == ["127.0.0.1"]
    assert len(stub.calls) == 2


async def test_a_lookup_cut_by_its_deadline_lets_a_waiter_try(runtime, echo_server):
    """The leader's deadline ends its lookup; a waiter with more time looks up itself."""
    stub = stub_resolver(runtime, ["127.0.0.1"], delay=0.3)
    net = runtime.backend(resolver=caching_resolver(runtime, stub))

    async def hurried():
        with pytest.raises(netbase.ConnectTimeout):
            async with netbase.timeout(0.1):
                await net.connect(HOST, echo_server.port)

    async def patient():
        await runtime.sleep(0.03)
        async with await net.connect(HOST, echo_server.port) as stream:
            return stream.get_extra_info("server_addr")

    _, server = await runtime.gather(hurried, patient)
    assert server == ("127.0.0.1", echo_server.port)
    assert len(stub.calls) == 2


async def test_default_wraps_the_system_resolver(runtime, echo_server):
    cache = caching_resolver(runtime, ttl=30)
    net = runtime.backend(resolver=cache)
    async with await net.connect("localhost", echo_server.port) as stream:  # /etc/hosts
        assert stream.get_extra_info("server_addr")[0] in ("127.0.0.1", "::1")
    assert len(cache) == 1
    assert "127.0.0.1" in await call_resolve(cache, "localhost", echo_server.port)


async def test_repr(runtime):
    stub = stub_resolver(runtime, ["127.0.0.1"])
    cache = caching_resolver(runtime, stub, ttl=5, max_size=10)
    name = type(cache).__name__
    assert repr(cache) == f"{name}({stub!r}, ttl=5.0, max_size=10)"
    assert cache.ttl == 5.0
    assert cache.max_size == 10


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"ttl": -1}, ValueError),
        ({"ttl": float("nan")}, ValueError),
        ({"ttl": "60"}, TypeError),
        ({"ttl": True}, TypeError),
        ({"max_size": 0}, ValueError),
        ({"max_size": 2.5}, TypeError),
        ({"max_size": None}, TypeError),
    ],
)
def test_bad_options(runtime, options, error):
    with pytest.raises(error):
        caching_resolver(runtime, stub_resolver(runtime, ["127.0.0.1"]), **options)


def test_a_ttl_too_large_for_a_float_is_forever(runtime):
    cache = caching_resolver(runtime, stub_resolver(runtime, ["127.0.0.1"]), ttl=10**400)
    assert cache.ttl == float("inf")


async def test_a_wrong_answer_of_the_wrapped_resolver_is_refused(runtime):
    """Checked before it is cached: the error names the wrapped resolver, not the cache."""
    stub = stub_resolver(runtime, ["10.9.8.7", "not an address"])
    cache = caching_resolver(runtime, stub)
    with pytest.raises(ValueError, match=r"StubResolver.*'not an address'"):
        await call_resolve(cache, HOST, 80)
    assert len(cache) == 0


def test_resolver_without_resolve_is_type_error(runtime):
    with pytest.raises(TypeError, match="resolve"):
        caching_resolver(runtime, object())
