"""Conformance: what a connection pool needs besides streams (lock, semaphore, event, sleep)."""

from __future__ import annotations

import pytest

import netbase
from helpers import PROMPT, stopwatch


async def test_semaphore_waits_under_the_deadline(runtime, net):
    semaphore = net.create_semaphore(1)
    await semaphore.acquire()
    with stopwatch() as watch, pytest.raises(netbase.TimeoutError):
        async with netbase.timeout(0.1):
            await semaphore.acquire()
    assert watch.seconds < 0.1 + PROMPT
    semaphore.release()
    async with netbase.timeout(1):
        await semaphore.acquire()
    semaphore.release()


async def test_semaphore_hands_over_between_tasks(runtime, net):
    semaphore = net.create_semaphore(1)
    order = []

    async def worker(name):
        await semaphore.acquire()
        try:
            order.append(f"{name} in")
            await net.sleep(0.05)
            order.append(f"{name} out")
        finally:
            semaphore.release()

    async with netbase.timeout(5):
        await runtime.gather(lambda: worker("a"), lambda: worker("b"))
    assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])


async def test_event_waits_under_the_deadline(runtime, net):
    event = net.create_event()
    assert not event.is_set()
    with pytest.raises(netbase.TimeoutError):
        async with netbase.timeout(0.05):
            await event.wait()
    event.set()
    assert event.is_set()
    async with netbase.timeout(1):
        await event.wait()


async def test_lock_excludes(runtime, net):
    lock = net.create_lock()
    inside = []

    async def worker():
        async with lock:
            inside.append(1)
            assert len(inside) == 1
            await net.sleep(0.02)
            inside.pop()

    await runtime.gather(worker, worker, worker)
    assert inside == []


async def test_sleep(runtime, net):
    with stopwatch() as watch:
        await net.sleep(0.05)
    assert 0.04 <= watch.seconds < 0.05 + PROMPT


async def test_primitives_are_context_managers_on_every_runtime(runtime, net):
    """``async with`` (``with`` on threads) for the lock and the semaphore, everywhere."""
    lock = net.create_lock()
    async with lock:
        pass
    semaphore = net.create_semaphore(1)
    async with semaphore:
        # Taken: a second entry waits, and the deadline bounds the wait.
        with pytest.raises(netbase.TimeoutError):
            async with netbase.timeout(0.05), semaphore:
                pass
    async with netbase.timeout(1), semaphore:  # given back on the way out
        pass
    with pytest.raises(ZeroDivisionError):
        async with semaphore:
            1 / 0  # noqa: B018
    async with netbase.timeout(1), semaphore:  # given back when the block raised too
        pass
