"""What a connection pool waits on, native to trio; waits honour `netbase.timeout`.

`netbase.AsyncNetworkBackendInterface` delegates `sleep`,
`create_lock`, `create_semaphore` and `create_event` to this module when
trio runs the task, so a pool written against the interfaces runs unchanged
on asyncio and on trio. A trio cancellation stays a `trio.Cancelled`; only
the netbase deadline becomes [`netbase.TimeoutError`][netbase.TimeoutError].
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType

import trio

from netbase import TimeoutError
from netbase_trio._deadline import Expired, deadline_for, run_until

__all__ = [
    "DeadlineEvent",
    "DeadlineSemaphore",
    "create_event",
    "create_lock",
    "create_semaphore",
    "sleep",
]


async def sleep(seconds: float) -> None:
    """`trio.sleep`."""
    await trio.sleep(seconds)


def create_lock() -> trio.Lock:
    """A plain `trio.Lock`."""
    return trio.Lock()


def create_semaphore(value: int) -> DeadlineSemaphore:
    """A semaphore whose `acquire()` honours the active timeout."""
    return DeadlineSemaphore(value)


def create_event() -> DeadlineEvent:
    """An event whose `wait()` honours the active timeout."""
    return DeadlineEvent()


async def _under_deadline(fn: Callable[[], Awaitable[object]], what: str) -> None:
    deadline = deadline_for(TimeoutError)
    try:
        await run_until(lambda _: fn(), None, deadline)
    except Expired as exc:
        raise TimeoutError(f"timed out waiting for {what}") from exc


class DeadlineSemaphore:
    """A `trio.Semaphore` whose `acquire()` honours the active timeout."""

    def __init__(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"a semaphore's value is an int, not {type(value).__name__}")
        if value < 0:
            raise ValueError("a semaphore's value must be >= 0")
        self._semaphore = trio.Semaphore(value)

    async def acquire(self) -> None:
        """Take one unit; [`TimeoutError`][netbase.TimeoutError] at the deadline."""
        await _under_deadline(self._semaphore.acquire, "a semaphore")

    def release(self) -> None:
        """Give one unit back."""
        self._semaphore.release()

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


class DeadlineEvent:
    """A `trio.Event` whose `wait()` honours the active timeout."""

    def __init__(self) -> None:
        self._event = trio.Event()

    def set(self) -> None:
        """Set the flag and wake every waiter."""
        self._event.set()

    def is_set(self) -> bool:
        """Whether the flag is set."""
        return self._event.is_set()

    async def wait(self) -> None:
        """Wait for the flag; [`TimeoutError`][netbase.TimeoutError] at the deadline."""
        await _under_deadline(self._event.wait, "an event")
