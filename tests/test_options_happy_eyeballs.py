"""Happy Eyeballs (RFC 8305) on every runtime, proven on loopback.

A stub resolver answers with several loopback addresses that share one port;
each address accepts, refuses or hangs (see ``test_options_support.Layout``).
IPv4-mapped IPv6 addresses (``::ffff:127.0.0.x``) give as many IPv6-family
addresses as a test needs while ``::1`` is the only IPv6 loopback address.
Which address accepted, and when, is seen from the server side; attempts at
hanging addresses leave no trace there, but their sockets must be closed,
which the suite's leak check verifies.

Timings use generous tolerances (the machine is shared): what they separate
is "at once" from "after the stagger" from "after N staggers".
"""

from __future__ import annotations

import asyncio
import collections
import gc
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_options_support import (
    ACCEPT,
    HANG,
    REFUSE,
    layout,
    mapped,
    stub_resolver,
)

import netbase
from drivers import TrioDriver
from helpers import PROMPT, stopwatch

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

HOST = "eyeballs.test"  # never resolved by the system: every test passes a stub


def backend(runtime, answer, **options):
    resolver = stub_resolver(runtime, answer)
    return runtime.backend(resolver=resolver, **options), resolver


# -- the order of attempts ------------------------------------------------------


async def test_families_are_interleaved(runtime):
    """[v6 refused, v6 ok, v4 ok]: interleaving tries the v4 address second, so it wins."""
    plan = {"::1": REFUSE, "127.0.0.3": ACCEPT, "127.0.0.2": ACCEPT}
    with layout(plan) as lay:
        net, _ = backend(
            runtime, ["::1", mapped("127.0.0.3"), "127.0.0.2"], happy_eyeballs_delay=10.0
        )
        async with await net.connect(HOST, lay.port) as stream:
            assert stream.get_extra_info("server_addr") == ("127.0.0.2", lay.port)
        lay.first_accept("127.0.0.2")
        assert lay.accepts("127.0.0.3") == []  # in the given order it would have won


async def test_first_family_is_the_resolvers_first(runtime):
    """[v4 refused, v4 ok, v6 ok]: the v6 address goes second."""
    plan = {"127.0.0.2": REFUSE, "127.0.0.3": ACCEPT, "::1": ACCEPT}
    with layout(plan) as lay:
        net, _ = backend(runtime, ["127.0.0.2", "127.0.0.3", "::1"], happy_eyeballs_delay=10.0)
        async with await net.connect(HOST, lay.port) as stream:
            assert stream.get_extra_info("server_addr") == ("::1", lay.port)
        assert lay.accepts("127.0.0.3") == []


async def test_every_attempt_in_interleaved_order_in_the_error(runtime):
    """All refuse: one ConnectError naming the host lists the attempts, in RFC 8305 order."""
    plan = {"::1": REFUSE, "127.0.0.2": REFUSE, "127.0.0.3": REFUSE, "127.0.0.4": REFUSE}
    answer = ["::1", mapped("127.0.0.4"), "127.0.0.2", "127.0.0.3"]
    with layout(plan) as lay:
        net, _ = backend(runtime, answer)
        with stopwatch() as watch, pytest.raises(netbase.ConnectError) as info:
            await net.connect(HOST, lay.port)
        assert watch.seconds < PROMPT  # each failure starts the next attempt at once
    message = str(info.value)
    assert f"{HOST}:{lay.port}" in message
    order = ["[::1]", "127.0.0.2", f"[{mapped('127.0.0.4')}]", "127.0.0.3"]
    positions = [message.find(f"{address}:{lay.port}") for address in order]
    assert -1 not in positions, message
    assert positions == sorted(positions), message
    # Every failure is kept, not only the first: the cause groups them, in the same order.
    group = info.value.__cause__
    assert isinstance(group, BaseExceptionGroup), repr(group)
    assert len(group.exceptions) == 4
    assert all(isinstance(e, ConnectionRefusedError) for e in group.exceptions)


def _interleave(runtime):
    """The ordering helper the runtime's backend uses (its own, or the core's)."""
    connect = importlib.import_module(f"{runtime.module_name}._connect")
    if hasattr(connect, "interleave"):
        return connect.interleave
    return importlib.import_module("netbase._happy_eyeballs").interleave


def test_interleave_examples(runtime):
    interleave = _interleave(runtime)
    assert interleave([]) == []
    assert interleave(["::1"]) == ["::1"]
    assert interleave(["::1", "::2", "1.1.1.1", "2.2.2.2"]) == [
        "::1",
        "1.1.1.1",
        "::2",
        "2.2.2.2",
    ]
    assert interleave(["1.1.1.1", "::1", "::2", "::3"]) == ["1.1.1.1", "::1", "::2", "::3"]
    assert interleave(["1.1.1.1", "2.2.2.2", "::1"]) == ["1.1.1.1", "::1", "2.2.2.2"]


_v4 = st.ip_addresses(v=4).map(str)
_v6 = st.ip_addresses(v=6).map(str)


@given(addresses=st.lists(st.one_of(_v4, _v6), unique=True, max_size=12))
def test_interleave_properties(runtime, addresses):
    ordered = _interleave(runtime)(addresses)
    assert sorted(ordered) == sorted(addresses)  # a permutation: nothing lost or added
    if not addresses:
        return
    assert ordered[0] == addresses[0]  # the resolver's first choice goes first
    for is_v6 in (True, False):  # each family keeps the resolver's order
        assert [a for a in ordered if (":" in a) == is_v6] == [
            a for a in addresses if (":" in a) == is_v6
        ]
    # The families alternate for as long as both have addresses left.
    both = 2 * min(sum(":" in a for a in addresses), sum(":" not in a for a in addresses))
    families = [":" in a for a in ordered[:both]]
    assert all(families[i] != families[i + 1] for i in range(len(families) - 1))


# -- the stagger ----------------------------------------------------------------


# Addresses (answered by the resolver in this order) and what each does, the
# backend's options, and when the one accepting address sees its connection,
# in seconds after connect() is called: [earliest, latest).
WHEN_ATTEMPTS_START = {
    "after-the-delay": (
        {"127.0.0.2": HANG, "127.0.0.3": ACCEPT},
        {"happy_eyeballs_delay": 0.3},
        (0.27, 1.5),
    ),
    "default-delay-a-quarter-second": ({"::1": HANG, "127.0.0.2": ACCEPT}, {}, (0.22, 1.25)),
    "one-delay-per-stalled-attempt": (
        {"127.0.0.2": HANG, "::1": HANG, "127.0.0.3": ACCEPT},
        {"happy_eyeballs_delay": 0.3},
        (0.57, 1.8),
    ),
    "a-failure-starts-the-next-at-once": (
        {"127.0.0.2": REFUSE, "127.0.0.3": ACCEPT},
        {"happy_eyeballs_delay": 5.0},
        (0.0, 1.0),
    ),
    # The refusal at ~0.3 s starts the third attempt at once, not at 0.6 s,
    # although the first attempt is still in flight.
    "a-late-failure-starts-the-next-at-once": (
        {"127.0.0.2": HANG, "127.0.0.3": REFUSE, "127.0.0.4": ACCEPT},
        {"happy_eyeballs_delay": 0.3},
        (0.27, 0.55),
    ),
    "delay-none-moves-on-when-one-fails": (
        {"127.0.0.2": REFUSE, "127.0.0.3": ACCEPT},
        {"happy_eyeballs_delay": None},
        (0.0, 1.0),
    ),
}


@pytest.mark.parametrize(
    ("plan", "options", "window"), WHEN_ATTEMPTS_START.values(), ids=list(WHEN_ATTEMPTS_START)
)
async def test_when_attempts_start(runtime, plan, options, window):
    (winner,) = [address for address, does in plan.items() if does == ACCEPT]
    with layout(plan) as lay:
        net, _ = backend(runtime, list(plan), **options)
        start = time.monotonic()
        async with await net.connect(HOST, lay.port) as stream:
            assert stream.get_extra_info("server_addr") == (winner, lay.port)
        earliest, latest = window
        assert earliest <= lay.first_accept(winner).at - start < latest


async def test_delay_none_tries_one_after_another(runtime):
    """Without a stagger a hanging first address is never raced: the deadline ends it."""
    plan = {"127.0.0.2": HANG, "127.0.0.3": ACCEPT}
    with layout(plan) as lay:
        net, _ = backend(runtime, ["127.0.0.2", "127.0.0.3"], happy_eyeballs_delay=None)
        with stopwatch() as watch, pytest.raises(netbase.ConnectTimeout):
            async with netbase.timeout(0.6):
                await net.connect(HOST, lay.port)
        assert 0.55 <= watch.seconds < 0.6 + PROMPT
        assert lay.accepts("127.0.0.3") == []


@pytest.mark.parametrize("delay", [-0.1, float("nan")])
async def test_bad_delay_is_value_error(runtime, delay):
    with pytest.raises(ValueError, match="happy_eyeballs_delay"):
        runtime.backend(happy_eyeballs_delay=delay)


@pytest.mark.parametrize("delay", ["0.3", True, [0.3]])
async def test_non_number_delay_is_type_error(runtime, delay):
    with pytest.raises(TypeError, match="happy_eyeballs_delay"):
        runtime.backend(happy_eyeballs_delay=delay)


# -- who wins, and the losers -----------------------------------------------------


async def test_first_success_wins_and_the_rest_are_never_started(runtime):
    plan = {"127.0.0.2": HANG, "127.0.0.3": ACCEPT, "127.0.0.4": ACCEPT, "127.0.0.5": ACCEPT}
    answer = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
    with layout(plan) as lay:
        net, _ = backend(runtime, answer, happy_eyeballs_delay=0.3)
        async with await net.connect(HOST, lay.port) as stream:
            await stream.write(b"ping")
            assert await stream.read() == b"ping"
            assert stream.get_extra_info("server_addr") == ("127.0.0.3", lay.port)
            await runtime.sleep(0.7)  # the times the next two would have started
            assert [a.address for a in lay.accepted] == ["127.0.0.3"]
        # The hanging attempt's socket was closed: the leak check counts descriptors.


async def test_losers_that_connected_are_closed(runtime):
    """With no stagger every attempt starts at once; all but the winner get closed."""
    plan = {"127.0.0.2": ACCEPT, "127.0.0.3": ACCEPT, "127.0.0.4": ACCEPT, "::1": ACCEPT}
    answer = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "::1"]
    with layout(plan) as lay:
        net, _ = backend(runtime, answer, happy_eyeballs_delay=0)
        async with await net.connect(HOST, lay.port) as stream:
            server = stream.get_extra_info("server_addr")
            lay.first_accept(server[0])
            await runtime.sleep(0.3)  # the server thread accepts what the backlogs hold
            left = lay.wait_closed(keep=1)
            # Only the winner's connection is still open on the server side...
            assert [a.address for a in left] == [server[0]]
            await stream.write(b"still here")
            assert await stream.read() == b"still here"
        assert lay.accepted  # (how many losers connected before the win is up to timing)


async def _connect_cancelled_after(runtime, net, port, steps):
    """``connect()``, cancelled after ``steps`` scheduling steps: the stream, or ``None``."""
    if isinstance(runtime, TrioDriver):
        import trio

        got = []
        with trio.CancelScope() as scope:

            async def cancel() -> None:
                for _ in range(steps):
                    await trio.lowlevel.checkpoint()
                scope.cancel()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(cancel)
                got.append(await net.connect(HOST, port))
        return got[0] if got else None
    task = asyncio.ensure_future(net.connect(HOST, port))
    for _ in range(steps):
        await asyncio.sleep(0)
    task.cancel()
    try:
        return await task
    except asyncio.CancelledError:
        return None


@pytest.mark.async_only
async def test_a_race_cancelled_at_any_step_leaves_no_socket(runtime):
    """Cancelled at every step of a race: before the win, and after it while a loser
    still hangs. No socket is left (the winner's included); a connect that returned
    gave a stream that works."""
    plan = {"127.0.0.2": HANG, "127.0.0.3": ACCEPT}
    outcomes: collections.Counter[str] = collections.Counter()
    with layout(plan) as lay:
        net, _ = backend(runtime, ["127.0.0.2", "127.0.0.3"], happy_eyeballs_delay=0)
        for steps in range(40):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ResourceWarning)
                stream = await _connect_cancelled_after(runtime, net, lay.port, steps)
                if stream is None:
                    outcomes["cancelled"] += 1
                else:
                    outcomes["connected"] += 1
                    async with stream:
                        await stream.write(b"ping")
                        assert await stream.read() == b"ping"
                    del stream
                gc.collect()
            unclosed = [str(w.message) for w in caught if w.category is ResourceWarning]
            assert not unclosed, f"cancelled after {steps} steps: {unclosed}"
    # The sweep spans the race: the early ones were cancelled, the late ones connected.
    assert outcomes["cancelled"], outcomes
    assert outcomes["connected"], outcomes


async def test_a_deadline_at_any_moment_of_a_race_leaves_no_socket(runtime):
    """Deadlines landing all through a race (before, at and after the win): each ends in
    a stream or a ConnectTimeout, and no socket is left."""
    plan = {"127.0.0.2": HANG, "127.0.0.3": ACCEPT}
    with layout(plan) as lay:
        net, _ = backend(runtime, ["127.0.0.2", "127.0.0.3"], happy_eyeballs_delay=0)
        for step in range(40):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ResourceWarning)
                try:
                    async with netbase.timeout(step * 0.0001):
                        stream = await net.connect(HOST, lay.port)
                except netbase.ConnectTimeout:
                    pass
                else:
                    await stream.close()
                    del stream
                gc.collect()
            unclosed = [str(w.message) for w in caught if w.category is ResourceWarning]
            assert not unclosed, f"a deadline of {step * 0.1:.1f} ms: {unclosed}"


# -- one deadline over the whole race ---------------------------------------------


async def test_one_deadline_bounds_the_whole_race(runtime):
    plan = {"127.0.0.2": HANG, "::1": HANG, "127.0.0.3": HANG, "127.0.0.4": HANG}
    answer = ["127.0.0.2", "::1", "127.0.0.3", "127.0.0.4"]
    with layout(plan) as lay:
        net, _ = backend(runtime, answer, happy_eyeballs_delay=0.4)
        with stopwatch() as watch, pytest.raises(netbase.ConnectTimeout) as info:
            async with netbase.timeout(0.6):
                await net.connect(HOST, lay.port)
        # At the deadline: not after the stagger of all four (1.2 s) plus a timeout each.
        assert 0.55 <= watch.seconds < 0.6 + PROMPT
        assert HOST in str(info.value)


async def test_deadline_covers_resolution_and_race_together(runtime):
    plan = {"127.0.0.2": HANG, "127.0.0.3": HANG}
    with layout(plan) as lay:
        resolver = stub_resolver(runtime, ["127.0.0.2", "127.0.0.3"], delay=0.3)
        net = runtime.backend(resolver=resolver, happy_eyeballs_delay=0.2)
        with stopwatch() as watch, pytest.raises(netbase.ConnectTimeout):
            async with netbase.timeout(0.6):
                await net.connect(HOST, lay.port)
        assert 0.55 <= watch.seconds < 0.6 + PROMPT


# -- "localhost" with two families, one of them listening ---------------------------


@pytest.mark.parametrize(
    ("plan", "winner"),
    [
        ({"::1": REFUSE, "127.0.0.1": ACCEPT}, "127.0.0.1"),
        ({"::1": ACCEPT, "127.0.0.1": REFUSE}, "::1"),
        ({"::1": HANG, "127.0.0.1": ACCEPT}, "127.0.0.1"),  # IPv6 broken: a black hole
    ],
    ids=["v4-only", "v6-only", "v6-black-hole"],
)
async def test_localhost_on_both_families(runtime, plan, winner):
    with layout(plan) as lay:
        net, resolver = backend(runtime, ["::1", "127.0.0.1"])
        with stopwatch() as watch:
            stream = await net.connect("localhost", lay.port)
        async with stream:
            assert stream.get_extra_info("server_addr") == (winner, lay.port)
            await stream.write(b"hi")
            assert await stream.read() == b"hi"
        assert resolver.calls == [("localhost", lay.port)]
        assert watch.seconds < 0.25 + PROMPT  # at most one stagger


_NAMESPACE_SCRIPT = r"""
import asyncio, socket, sys
runtime, family = sys.argv[1], sys.argv[2]
listener = socket.socket(socket.AF_INET6 if family == "6" else socket.AF_INET)
listener.bind(("::1" if family == "6" else "127.0.0.1", 0))
listener.listen()
port = listener.getsockname()[1]
answer = sorted({i[4][0] for i in socket.getaddrinfo("localhost", port, type=socket.SOCK_STREAM)})
module = __import__({"uvloop": "netbase_asyncio"}.get(runtime, "netbase_" + runtime))

async def main():
    net = module.NetworkBackend()
    async with module.timeout(5):
        async with await net.connect("localhost", port) as stream:
            return stream.get_extra_info("server_addr")[0]

if runtime == "threaded":
    with module.timeout(5), module.NetworkBackend().connect("localhost", port) as stream:
        server = stream.get_extra_info("server_addr")[0]
elif runtime == "trio":
    import trio
    server = trio.run(main)
elif runtime == "uvloop":
    import uvloop
    server = uvloop.run(main()) if hasattr(uvloop, "run") else asyncio.run(main())
else:
    server = asyncio.run(main())
print(" ".join(answer), server)
"""


def _in_namespace(hosts: str, *args: str) -> str:
    """Run the script in fresh network and mount namespaces, with ``hosts`` as /etc/hosts."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "hosts")
        with open(path, "w") as f:
            f.write(hosts)
        shell = 'ip link set lo up 2>/dev/null; mount --bind "$0" /etc/hosts && exec "$@"'
        result = subprocess.run(
            [
                "unshare",
                "--net",
                "--mount",
                "sh",
                "-c",
                shell,
                path,
                sys.executable,
                "-c",
                _NAMESPACE_SCRIPT,
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _can_unshare() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    return subprocess.run(["unshare", "--net", "--mount", "true"], check=False).returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="needs root and unshare (network namespaces)")
@pytest.mark.parametrize("listening", ["4", "6"])
def test_localhost_through_the_system_resolver(runtime, listening):
    """The real thing, with no query leaving the machine: a private network namespace
    whose /etc/hosts maps localhost to both ::1 and 127.0.0.1; only one listens."""
    out = _in_namespace(
        "::1 localhost\n127.0.0.1 localhost\n", runtime.name.removeprefix("recording-"), listening
    )
    answer, server = out.rsplit(" ", 1)
    assert answer.split() == ["127.0.0.1", "::1"]  # the system resolver gave both
    assert server == ("::1" if listening == "6" else "127.0.0.1")
