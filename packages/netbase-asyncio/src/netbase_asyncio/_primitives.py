"""What an asyncio connection pool waits on: sleep, lock, semaphore, event.

The backend's methods of the same names return these, and so do the
`AsyncNetworkBackendInterface` defaults when a custom backend runs on
asyncio. Waiting on the semaphore or the event honours the active
[`netbase.timeout()`][netbase.timeout] and raises [`netbase.TimeoutError`][netbase.TimeoutError]
when it passes (one timer per wait, armed only when the wait has to block).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from types import TracebackType
from typing import cast

from netbase import AsyncLock, TimeoutError, remaining
from netbase_asyncio._deadline import Deadline, Expired

__all__ = [
    "DeadlineEvent",
    "DeadlineSemaphore",
    "create_event",
    "create_lock",
    "create_semaphore",
    "sleep",
]

_monotonic = time.monotonic


async def sleep(seconds: float) -> None:
    """`asyncio.sleep`."""
    await asyncio.sleep(seconds)


def create_lock() -> AsyncLock:
    """A plain `asyncio.Lock`."""
    # asyncio.Lock.__aexit__ names its three parameters where the protocol
    # takes *exc_info: the same calls work, mypy cannot see it.
    return cast("AsyncLock", asyncio.Lock())


def create_semaphore(value: int) -> DeadlineSemaphore:
    """A semaphore whose `acquire()` honours the active timeout."""
    return DeadlineSemaphore(value)


def create_event() -> DeadlineEvent:
    """An event whose `wait()` honours the active timeout."""
    return DeadlineEvent()


async def _wait(waiter: asyncio.Future[None], timeout: float | None) -> None:
    if timeout is None:
        await waiter
        return
    op = Deadline(asyncio.get_running_loop(), _monotonic() + timeout)
    try:
        op.arm(waiter)
        await waiter
    finally:
        op.cancel()


class DeadlineSemaphore:
    """A counting semaphore whose `acquire()` honours the active timeout.

    Waiters are served first come, first served; a unit released to a waiter
    that was cancelled or timed out in the meantime goes on to the next one.
    """

    def __init__(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"a semaphore's value is an int, not {type(value).__name__}")
        if value < 0:
            raise ValueError("a semaphore's value must be >= 0")
        self._value = value
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> None:
        """Take one unit; [`TimeoutError`][netbase.TimeoutError] at the deadline."""
        timeout = remaining(TimeoutError)
        if self._value > 0 and not self._waiters:
            self._value -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await _wait(waiter, timeout)
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release()  # we were handed a unit but will not use it
            else:
                self._discard(waiter)
            if isinstance(exc, Expired):
                raise TimeoutError("timed out waiting for a semaphore") from exc
            raise

    def _discard(self, waiter: asyncio.Future[None]) -> None:
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)

    def release(self) -> None:
        """Give one unit back (to the first waiter, if any)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._value += 1

    async def __aenter__(self) -> DeadlineSemaphore:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<DeadlineSemaphore value={self._value} waiters={len(self._waiters)}>"


class DeadlineEvent:
    """A one-shot flag whose `wait()` honours the active timeout."""

    def __init__(self) -> None:
        self._flag = False
        self._waiters: set[asyncio.Future[None]] = set()

    def set(self) -> None:
        """Set the flag and wake every waiter."""
        self._flag = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    def is_set(self) -> bool:
        """Whether the flag is set."""
        return self._flag

    async def wait(self) -> None:
        """Wait for the flag; [`TimeoutError`][netbase.TimeoutError] at the deadline."""
        timeout = remaining(TimeoutError)
        if self._flag:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await _wait(waiter, timeout)
        except Expired as exc:
            raise TimeoutError("timed out waiting for an event") from exc
        finally:
            self._waiters.discard(waiter)
