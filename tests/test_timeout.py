"""The core's ``netbase.timeout()``: values, nesting, cancel, and where a deadline is seen."""

from __future__ import annotations

import asyncio
import math
import socket
import threading
import time
from decimal import Decimal
from fractions import Fraction

import pytest

import netbase
from helpers import PROMPT, stopwatch


class _Seconds(int):
    """An int subclass: a Real, checked the slow way."""


@pytest.mark.parametrize(
    "seconds",
    [0, 0.0, -0.0, 1, 2.5, Fraction(1, 3), _Seconds(2), math.inf],
    ids=repr,
)
def test_accepts_non_negative_numbers(seconds):
    with netbase.timeout(seconds) as t:
        assert t.seconds == float(seconds)
        assert type(t.seconds) is float


@pytest.mark.parametrize(
    ("seconds", "error"),
    [
        (-1, ValueError),
        (-0.001, ValueError),
        (-math.inf, ValueError),
        (-(10**400), ValueError),
        (math.nan, ValueError),
        (Fraction(-1, 3), ValueError),
        ("1", TypeError),
        (None, TypeError),
        (True, TypeError),
        (False, TypeError),
        (1j, TypeError),
        (Decimal("1.5"), TypeError),  # not a numbers.Real
        ([1], TypeError),
    ],
)
def test_rejects_bad_values_at_once(seconds, error):
    with pytest.raises(error):
        netbase.timeout(seconds)


def test_no_timeout_means_no_deadline():
    assert netbase.current_deadline() == math.inf
    assert netbase.remaining(netbase.ReadTimeout) is None


def test_deadline_starts_when_the_block_is_entered():
    t = netbase.timeout(10)
    time.sleep(0.05)
    assert t.deadline == math.inf  # not entered yet
    before = time.monotonic()
    with t:
        assert before + 10 <= netbase.current_deadline() <= time.monotonic() + 10


def test_with_and_async_with_give_the_same_handle():
    t = netbase.timeout(1)
    with t as handle:
        assert handle is t

    async def main():
        t2 = netbase.timeout(1)
        async with t2 as handle2:
            assert handle2 is t2
            assert netbase.current_deadline() == t2.deadline
        assert netbase.current_deadline() == math.inf

    asyncio.run(main())


def test_nesting_takes_the_earliest():
    with netbase.timeout(10) as outer:
        with netbase.timeout(3) as inner:
            assert netbase.current_deadline() == inner.deadline
        assert netbase.current_deadline() == outer.deadline
        with netbase.timeout(30):
            # A longer inner timeout cannot extend the outer deadline.
            assert netbase.current_deadline() == outer.deadline
    assert netbase.current_deadline() == math.inf


def test_cancel_removes_only_its_own_deadline():
    with netbase.timeout(10) as outer:
        with netbase.timeout(3) as inner:
            inner.cancel()
            assert inner.cancelled
            assert not outer.cancelled
            assert netbase.current_deadline() == outer.deadline
        assert netbase.current_deadline() == outer.deadline
        outer.cancel()
        assert netbase.current_deadline() == math.inf


def test_cancel_an_outer_deadline_from_inside():
    with netbase.timeout(1) as outer, netbase.timeout(5) as inner:
        outer.cancel()
        assert netbase.current_deadline() == inner.deadline


def test_cancel_before_entering_means_no_deadline():
    t = netbase.timeout(0)
    t.cancel()
    with t:
        assert netbase.remaining(netbase.ReadTimeout) is None


def test_expired_deadline_raises_the_given_class():
    with netbase.timeout(0):
        for cls in (netbase.ConnectTimeout, netbase.ReadTimeout, netbase.WriteTimeout):
            with pytest.raises(cls):
                netbase.remaining(cls)


def test_remaining_is_positive_and_shrinks():
    with netbase.timeout(5):
        first = netbase.remaining(netbase.ReadTimeout)
        time.sleep(0.01)
        second = netbase.remaining(netbase.ReadTimeout)
        assert first is not None
        assert second is not None
        assert 0 < second < first <= 5


def test_a_timeout_is_entered_once():
    t = netbase.timeout(1)
    with t:
        pass
    with pytest.raises(RuntimeError), t:
        pass


def test_exit_restores_after_an_exception():
    with pytest.raises(KeyError), netbase.timeout(1):
        raise KeyError
    assert netbase.current_deadline() == math.inf


def test_threads_started_inside_do_not_see_the_deadline():
    seen = []
    with netbase.timeout(0.5):
        thread = threading.Thread(target=lambda: seen.append(netbase.current_deadline()))
        thread.start()
        thread.join()
    assert seen == [math.inf]


def test_deadlines_follow_their_own_thread():
    seen = {}
    barrier = threading.Barrier(2)

    def worker(name, seconds):
        with netbase.timeout(seconds) as t:
            barrier.wait()
            seen[name] = netbase.current_deadline() == t.deadline

    threads = [threading.Thread(target=worker, args=(n, s)) for n, s in (("a", 1), ("b", 2))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"a": True, "b": True}


def test_tasks_started_inside_inherit_and_outside_do_not():
    async def probe():
        return netbase.current_deadline()

    async def main():
        outside = asyncio.ensure_future(_later(probe))
        async with netbase.timeout(5) as t:
            inside = asyncio.ensure_future(probe())
            assert await inside == t.deadline
            assert await outside == math.inf
            # A cancel after the task was started reaches the task too: the
            # deadline is shared, not copied.
            t.cancel()
            assert await asyncio.ensure_future(probe()) == math.inf

    asyncio.run(main())


async def _later(fn):
    await asyncio.sleep(0.01)
    return await fn()


def test_repr():
    t = netbase.timeout(2)
    assert repr(t) == "<netbase.timeout(2.0) idle>"
    with t:
        assert repr(t) == "<netbase.timeout(2.0) active>"
        t.cancel()
        assert repr(t) == "<netbase.timeout(2.0) cancelled>"


async def test_deadline_spans_several_operations(runtime, net, echo_server):
    # One deadline bounds the whole exchange, not each call.
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        start = time.monotonic()
        with pytest.raises(netbase.TimeoutError):
            async with netbase.timeout(0.3):
                for _ in range(100):
                    await stream.write(b"x")
                    assert await stream.read() == b"x"
                    await runtime.sleep(0.01)
        assert time.monotonic() - start < 0.3 + PROMPT


@pytest.mark.async_only
async def test_task_started_inside_the_block_inherits_it(runtime, net, echo_server):
    async with await net.connect(echo_server.host, echo_server.port) as stream:

        async def reader():
            with pytest.raises(netbase.ReadTimeout):
                await stream.read()
            return "timed out"

        async with netbase.timeout(0.1):
            assert await runtime.gather(reader) == ["timed out"]


@pytest.mark.parametrize("seconds", [30 * 86400, 1e10, 10**400, 1e308], ids=repr)
async def test_a_deadline_too_far_away_is_no_limit(runtime, net, echo_server, seconds):
    """No system call can wait that long: every operation runs as with no timeout."""
    async with netbase.timeout(seconds) as t:
        assert t.deadline == math.inf
        assert netbase.remaining(netbase.ReadTimeout) is None
        assert netbase.current_deadline() == math.inf
        # The recipe for a custom stream: settimeout(remaining(...)).
        with socket.socket() as sock:
            sock.settimeout(netbase.remaining(netbase.ConnectTimeout))
        async with await net.connect("localhost", echo_server.port) as stream:
            await stream.write(b"ping")  # the read below has to wait for the echo
            assert await stream.read() == b"ping"
        semaphore = net.create_semaphore(0)
        event = net.create_event()

        async def waiter():
            await semaphore.acquire()  # waits: the value is 0
            await event.wait()
            return "woken"

        async def waker():
            await net.sleep(0.1)
            semaphore.release()
            await net.sleep(0.05)
            event.set()

        assert await runtime.gather(waiter, waker) == ["woken", None]


async def test_a_far_deadline_nested_in_a_near_one_keeps_the_near_one(runtime, net):
    async with netbase.timeout(0.1), netbase.timeout(10**400):
        left = netbase.remaining(netbase.ReadTimeout)
        assert left is not None
        assert left <= 0.1


@pytest.mark.parametrize("operation", ["read", "start_tls"])
async def test_cancel_applies_to_operations_that_start_after_it(
    runtime, net, silent_server, client_context, operation
):
    """The rule, the same on every runtime: an operation reads the deadline when it
    starts and keeps it; ``t.cancel()`` frees the operations that start after it.

    (A thread blocked in a system call cannot be told that the deadline moved; an
    async runtime could, but then a pool would behave differently per runtime.)
    """
    handle = []
    async with await net.connect("127.0.0.1", silent_server.port) as stream:

        async def waiting():
            with stopwatch() as watch, pytest.raises(netbase.TimeoutError):
                async with netbase.timeout(0.4) as t:
                    handle.append(t)
                    if operation == "read":
                        await stream.read()
                    else:
                        await stream.start_tls(client_context, hostname="localhost")
            return watch.seconds

        async def canceller():
            while not handle:
                await net.sleep(0.01)
            await net.sleep(0.1)  # the operation is waiting by now
            handle[0].cancel()

        waited, _ = await runtime.gather(waiting, canceller)
        assert 0.35 <= waited < 0.4 + PROMPT
    # An operation that starts after cancel() is not bound by it.
    async with netbase.timeout(0.2) as t:
        t.cancel()
        assert netbase.remaining(netbase.ReadTimeout) is None
