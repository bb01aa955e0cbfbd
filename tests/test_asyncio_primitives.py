"""asyncio and uvloop: what a connection pool waits on (sleep, lock, semaphore, event)."""

from __future__ import annotations

import asyncio

import pytest

import netbase
from helpers import PROMPT, stopwatch

pytestmark = pytest.mark.runtimes("asyncio", "uvloop")


class CustomBackend(netbase.AsyncNetworkBackendInterface):
    """A backend that only connects: the primitives come from the interface's defaults."""

    async def connect(self, host, port):
        raise NotImplementedError


@pytest.fixture(params=["builtin", "interface-default"])
def backend(request, runtime):
    return runtime.backend() if request.param == "builtin" else CustomBackend()


async def test_semaphore_acquire_honours_the_deadline(runtime, backend):
    semaphore = backend.create_semaphore(1)
    await semaphore.acquire()
    with stopwatch() as watch, pytest.raises(netbase.TimeoutError, match="semaphore"):
        async with netbase.timeout(0.2):
            await semaphore.acquire()
    assert 0.15 <= watch.seconds < 0.2 + PROMPT
    semaphore.release()
    async with netbase.timeout(0.2):
        await semaphore.acquire()  # the timed-out waiter took nothing


async def test_semaphore_serves_waiters_in_order(runtime, backend):
    semaphore = backend.create_semaphore(0)
    order = []

    async def waiter(name):
        await semaphore.acquire()
        order.append(name)

    tasks = [asyncio.ensure_future(waiter(n)) for n in "abc"]
    await asyncio.sleep(0.01)
    for _ in tasks:
        semaphore.release()
    await asyncio.gather(*tasks)
    assert order == ["a", "b", "c"]


async def test_a_cancelled_waiter_passes_its_unit_on(runtime, backend):
    semaphore = backend.create_semaphore(0)
    first = asyncio.ensure_future(semaphore.acquire())
    second = asyncio.ensure_future(semaphore.acquire())
    await asyncio.sleep(0.01)
    semaphore.release()  # handed to `first`...
    first.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    async with netbase.timeout(1):
        await second


async def test_semaphore_rejects_bad_values(runtime, backend):
    with pytest.raises(TypeError):
        backend.create_semaphore(1.5)
    with pytest.raises(ValueError, match=">= 0"):
        backend.create_semaphore(-1)


async def test_event_wait_honours_the_deadline_and_wakes_every_waiter(runtime, backend):
    event = backend.create_event()
    with stopwatch() as watch, pytest.raises(netbase.TimeoutError, match="event"):
        async with netbase.timeout(0.2):
            await event.wait()
    assert watch.seconds < 0.2 + PROMPT
    waiters = [asyncio.ensure_future(event.wait()) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert not event.is_set()
    event.set()
    async with netbase.timeout(1):
        await asyncio.gather(*waiters)
    assert event.is_set()


async def test_lock_and_sleep(runtime, backend):
    lock = backend.create_lock()
    inside = []

    async def worker(n):
        async with lock:
            inside.append(n)
            await backend.sleep(0.01)
            assert inside[-1] == n  # nobody else got in meanwhile

    await asyncio.gather(*(worker(n) for n in range(3)))
    assert sorted(inside) == [0, 1, 2]
